import assert from 'node:assert/strict';
import { printable } from '../../src/process/printable.js';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { gather, gatherFailures, normalise, SIMILAR_MAX_CHARS } from '../../src/fleet/gather.js';
import { skippedResult, type HostResult } from '../../src/fleet/host-result.js';
import { durationsOf, FleetFailedError, FleetReport, percentile } from '../../src/fleet/report.js';
import { FleetshError } from '../../src/process/errors.js';
import { fakeFleet, hostResult as host, makeDirs, type FakeFleet } from './helpers.js';

/** What a compromised host prints: retitle and clear the terminal, then forge a line with a bare CR. */
const HOSTILE = `printf '\\033]0;PWNED\\007\\033[2Jhidden\\rFAKE: ok\\n'`;
const HOSTILE_BYTES = '\x1b]0;PWNED\x07\x1b[2Jhidden\rFAKE: ok\n';
const SHOWN = '\\x1b]0;PWNED\\x07\\x1b[2Jhidden\\rFAKE: ok';

describe('gather', () => {
  test('identical outputs form one group with their host set, largest first', () => {
    const groups = gather([
      { host: 'web1', output: 'active' },
      { host: 'web2', output: 'inactive' },
      { host: 'web3', output: 'active' },
    ]);
    assert.deepEqual(
      groups.map((g) => [g.output, g.hostList, g.count, g.similar]),
      [
        ['active', ['web1', 'web3'], 2, false],
        ['inactive', ['web2'], 1, false],
      ],
    );
  });

  test('outputs differing only in the host name, numbers or times are near-identical, with the differences', () => {
    const groups = gather([
      { host: 'web1.example.com', output: 'web1 10:14:01 up 3 days, load average: 0.10' },
      { host: 'web2.example.com', output: 'web2 10:14:02 up 12 days, load average: 0.25' },
      { host: 'web3.example.com', output: 'web3 10:14:02 up 12 days, load average: 0.25' },
      { host: 'db1.example.com', output: 'nginx: not found' },
    ]);
    assert.equal(groups.length, 2);
    const g = groups[0]!;
    assert.equal(g.similar, true);
    assert.equal(g.output, '{host} {time} up {n} days, load average: {n}');
    assert.equal(g.count, 3);
    assert.deepEqual(
      g.variants.map((v) => v.differences),
      [
        ['web1', '10:14:01', '3', '0.10'],
        ['web2', '10:14:02', '12', '0.25'],
        ['web3', '10:14:02', '12', '0.25'],
      ],
    );
    assert.equal(groups[1]!.output, 'nginx: not found');
  });

  test('normalise finds the address and ISO timestamps too', () => {
    assert.equal(normalise('127.0.0.5 at 2026-11-27T06:28:46Z', '127.0.0.5:22').pattern, '{host} at {time}');
    assert.equal(
      gather(
        [
          { host: 'a', output: 'x1' },
          { host: 'b', output: 'x2' },
        ],
        { similar: false },
      ).length,
      2,
    );
  });

  test('long outputs are grouped only when identical; a group says when a host printed past the cap', () => {
    const long = (n: number) => `${'y'.repeat(SIMILAR_MAX_CHARS)} ${n}`;
    const groups = gather([
      { host: 'a', output: long(1), truncated: true },
      { host: 'b', output: long(2) },
      { host: 'c', output: long(2) },
      { host: 'd', output: 'v1' },
      { host: 'e', output: 'v2' },
    ]);
    assert.deepEqual(
      groups.map((g) => [g.hostList, g.similar, g.truncated]),
      [
        [['b', 'c'], false, false],
        [['d', 'e'], true, false],
        [['a'], false, true],
      ],
    );
    assert.equal(groups[0]!.output, long(2));
  });
});

describe('gatherFailures', () => {
  test('hosts not ok, by status and kind, then by what they said without their own name', () => {
    const bad = (name: string, index: number, kind: 'failed' | 'refused', error: string): HostResult =>
      host(name, index, {
        status: kind === 'failed' ? 'failed' : 'unreachable',
        success: false,
        kind,
        error: `${name}: ${error}`,
      });
    const groups = gatherFailures([
      host('web1', 0, {}),
      bad('web2', 1, 'refused', 'connection refused'),
      bad('web3', 2, 'failed', 'command exited with code 1: x\nstderr (last lines):\n  a\n  b\n  c\n  d'),
      bad('web4', 3, 'refused', 'connection refused'),
      bad('web5', 4, 'failed', 'command exited with code 2: x'),
      skippedResult('web6', 5, 'budget', 'maxFailures 0 exceeded'),
    ]);
    assert.deepEqual(
      groups.map((g) => [g.key, g.status, g.hosts, g.messages.map((m) => [m.hosts, m.key])]),
      [
        ['unreachable (refused)', 'unreachable', 'web[2,4]', [['web[2,4]', 'connection refused']]],
        [
          'failed',
          'failed',
          'web[3,5]',
          [
            ['web3', 'command exited with code 1: x\n  b\n  c\n  d'],
            ['web5', 'command exited with code 2: x'],
          ],
        ],
        ['skipped (budget)', 'skipped', 'web6', [['web6', 'maxFailures 0 exceeded']]],
      ],
    );
  });
});

describe('report', () => {
  const hosts = [
    host('web1', 0, { stdout: 'active\n', durationMs: 10 }),
    host('web2', 1, { stdout: 'active\n', durationMs: 20 }),
    host('web3', 2, {
      status: 'failed',
      success: false,
      kind: 'failed',
      exitCode: 3,
      stdout: 'inactive\n',
      durationMs: 30,
      error: 'web3: command exited with code 3: systemctl is-active nginx',
    }),
    host('web4', 3, {
      status: 'unreachable',
      success: false,
      kind: 'connect-timeout',
      exitCode: null,
      stdout: null,
      stderr: null,
      durationMs: 10_000,
      error: 'web4: connection timed out: after 10 s',
    }),
    skippedResult(
      'web5',
      4,
      'budget',
      'maxFailures 1 exceeded (2 failed), the last being web4 (unreachable)',
    ),
  ];
  const report = new FleetReport(hosts.reverse(), {
    command: 'systemctl is-active nginx',
    startedAt: new Date(0),
    wallMs: 10_050,
    stopped: 'maxFailures 1 exceeded',
    peakConcurrency: 4,
  });

  test('counts, percentages, durations and sets', () => {
    assert.deepEqual(
      report.hosts.map((h) => h.host),
      ['web1', 'web2', 'web3', 'web4', 'web5'],
    );
    assert.deepEqual(report.counts, { total: 5, ok: 2, failed: 1, timeout: 0, unreachable: 1, skipped: 1 });
    assert.deepEqual(report.percentages, { ok: 40, failed: 20, timeout: 0, unreachable: 20, skipped: 20 });
    assert.deepEqual(report.durations, { min: 10, avg: 2515, p50: 20, p95: 10_000, max: 10_000 });
    assert.equal(report.sets.skipped, 'web5');
    assert.equal(report.ok, false);
    assert.throws(
      () => report.throwIfFailed(),
      /3 of 5 hosts did not succeed:\n  web3: failed \(failed\): command exited with code 3/,
    );
    // An error like every other of fleetsh's: a FleetshError with a kind, and the report to read.
    assert.throws(
      () => report.throwIfFailed(),
      (e: unknown) =>
        e instanceof FleetshError && e.kind === 'failed' && (e as FleetFailedError).report === report,
    );
  });

  test('percentiles are nearest-rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(values, 50), 50);
    assert.equal(percentile(values, 95), 95);
    assert.deepEqual(durationsOf([]), { min: 0, avg: 0, p50: 0, p95: 0, max: 0 });
  });

  test('toJSON has every field, null when absent, and round-trips through JSON', () => {
    const json = JSON.parse(JSON.stringify(report));
    assert.deepEqual(Object.keys(json).sort(), [
      'command',
      'counts',
      'durations',
      'groups',
      'hosts',
      'peakConcurrency',
      'percentages',
      'sets',
      'startedAt',
      'stopped',
      'wallMs',
    ]);
    const keys = Object.keys(json.hosts[0]).sort();
    for (const h of json.hosts) assert.deepEqual(Object.keys(h).sort(), keys);
    assert.deepEqual(keys, [
      'attempts',
      'durationMs',
      'error',
      'exitCode',
      'host',
      'index',
      'kind',
      'reason',
      'signal',
      'status',
      'stderr',
      'stdout',
      'success',
      'truncated',
      'value',
    ]);
    assert.equal(json.hosts[4].stdout, null);
    assert.equal(json.startedAt, '1970-01-01T00:00:00.000Z');
  });

  test('the text rendering: output groups, failures by kind and message, the stop, a summary line', () => {
    assert.equal(
      report.toText(),
      [
        '----------------',
        'web[1-2] (2)',
        '----------------',
        'active',
        '----------------',
        'web3 (1)',
        '----------------',
        'inactive',
        'failed: web3 (1)',
        '  web3: command exited with code 3: systemctl is-active nginx',
        'unreachable (connect-timeout): web4 (1)',
        '  web4: connection timed out: after 10 s',
        'skipped (budget): web5 (1)',
        '  web5: maxFailures 1 exceeded (2 failed), the last being web4 (unreachable)',
        'stopped early: maxFailures 1 exceeded',
        '5 hosts: 2 ok, 1 failed, 1 unreachable, 1 skipped in 10.1 s (per host: p50 20 ms, max 10 s)',
      ].join('\n'),
    );
    assert.match(report.toText({ groups: false }), /^failed: web3 \(1\)\n/);
  });
});

describe('what the hosts printed is shown, never obeyed', () => {
  let f: FakeFleet;
  let report: FleetReport;
  before(async () => {
    f = await fakeFleet();
    await makeDirs(f, ['web1', 'web2']);
    // web2 fails, with the same bytes on stderr.
    const command = `${HOSTILE}; [ "$HOST" = web1 ] || { ${HOSTILE} >&2; exit 3; }`;
    report = await fleet(['web1', 'web2'], { connect: f.connect }).run`${command}`;
  });
  after(() => f.cleanup());

  test('toText() escapes control characters in the output groups', () => {
    const text = report.toText();
    assert.ok(text.includes(`\n${SHOWN}\n`), text);
    assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, 'no raw control character');
    assert.doesNotMatch(text, /^FAKE: ok/m);
  });

  test('toText() and throwIfFailed() escape error messages, reasons and host names', () => {
    const hostile = new FleetReport(
      [
        host('web\x1b[2J1', 0, {
          status: 'failed',
          success: false,
          kind: 'failed',
          error: 'web\x1b[2J1: health check failed: \x1b]52;c;aGk=\x07\u202eok',
        }),
        skippedResult('web2', 1, 'budget', 'not started: \x1b[31mred'),
      ],
      { command: 'x', startedAt: new Date(0), wallMs: 1, stopped: 'budget \x9b2J', peakConcurrency: 1 },
    );
    const text = hostile.toText();
    assert.match(text, /web\\x1b\[2J1: health check failed: \\x1b\]52;c;aGk=\\x07\\u202eok/);
    assert.match(text, /not started: \\x1b\[31mred/);
    assert.match(text, /stopped early: budget \\u009b2J/);
    assert.doesNotMatch(text, /[\x1b\x07\x9b\u202e]/);
    assert.throws(
      () => hostile.throwIfFailed(),
      (e: Error) => e.message.includes('\\x1b]52;c;aGk=') && !/[\x1b\x07\u202e]/.test(e.message),
    );
  });

  test('the report keeps the exact bytes: hosts[].stdout and stderr, and JSON (ESC as \\u001b); messages quote them escaped', () => {
    assert.equal(report.hosts[0]!.stdout, HOSTILE_BYTES);
    assert.equal(report.hosts[1]!.stderr, HOSTILE_BYTES);
    // The error message is for people: it quotes the stderr tail escaped; stderr keeps the bytes.
    assert.ok(report.hosts[1]!.error!.includes(printable(HOSTILE_BYTES.trimEnd())), report.hosts[1]!.error!);
    assert.doesNotMatch(report.hosts[1]!.error!, /[\x1b\x07\r]/);
    const json = JSON.stringify(report);
    assert.ok(json.includes('\\u001b]0;PWNED\\u0007\\u001b[2Jhidden\\rFAKE: ok\\n'), json);
    assert.doesNotMatch(json, /[\x00-\x1f]/);
    assert.equal(JSON.parse(json).hosts[0].stdout, HOSTILE_BYTES);
  });
});
