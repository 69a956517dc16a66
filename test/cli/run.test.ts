// `fleetsh run` against real OpenSSH servers: each output mode, the exit statuses, failure budgets,
// timeouts, rerunning @failed from the state file, and a hostile host's output shown, not obeyed.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, HOSTILE, HOSTILE_BYTES, HOSTILE_SHOWN, scratch } from './helpers.js';

/** Control characters but TAB and LF: none may reach a terminal from a host unless --raw. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('fleetsh run', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  /** Connection flags for the harness fleet. */
  let conn: string[];
  /** A shell snippet that exits 3 on the given host only (hosts tell themselves apart by address). */
  const failOn = (name: string) =>
    `case " $SSH_CONNECTION " in *" ${fleet.host(name).address} "*) echo broken >&2; exit 3;; esac`;

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 4, faults: ['dead-port'] });
    conn = ['-F', fleet.sshConfigPath];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('default: live lines prefixed with the host, each once, then the summary; exit 0', async () => {
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-04]', '--', 'echo hello; echo from $(whoami)'], {
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    for (const h of ['h01', 'h02', 'h03', 'h04']) assert.match(r.stdout, new RegExp(`^${h}: +hello$`, 'm'));
    assert.equal(r.stdout.match(/hello/g)?.length, 4, 'each line printed once, not again gathered');
    assert.doesNotMatch(r.stdout, /^h\[01-04\] \(4\)$/m);
    assert.match(r.stdout, /^4 hosts: 4 ok in .*$/m);

    const gathered = await fleetsh(['run', ...conn, '-w', 'h[01-04]', '--gather', '--', 'echo hello'], {
      env,
    });
    assert.equal(gathered.code, 0, gathered.stderr);
    assert.equal(gathered.stdout.match(/hello/g)?.length, 1, '--gather: once, gathered');
    assert.match(gathered.stdout, /^-+\nh\[01-04\] \(4\)\n-+\nhello\n4 hosts: 4 ok in /m);
  });

  test('a command that fails on one host: listed by kind with its stderr, exit 1, @failed reruns it', async () => {
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-04]', '--', `echo ran; ${failOn('h03')}`], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^failed: h03 \(1\)$/m);
    assert.match(r.stdout, /h03: command exited with code 3/);
    assert.match(r.stdout, /^ {4}broken$/m);
    assert.match(r.stdout, /4 hosts: 3 ok, 1 failed/);
    assert.match(r.stderr, /^h03: +broken$/m);
    const failed = await fleetsh(['hosts', '-w', '@failed'], { env });
    assert.equal(failed.stdout, 'h03\n', failed.stderr);

    const again = await fleetsh(['run', ...conn, '-w', '@failed', '--gather', '--', 'echo again'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^h03 \(1\)\n-+\nagain$/m);
    assert.match(again.stdout, /^1 host: 1 ok/m);
    const empty = await fleetsh(['run', ...conn, '-w', '@failed', '--', 'echo again'], { env });
    assert.equal(empty.code, 0);
    assert.match(empty.stderr, /no hosts selected/);
  });

  test("the inventory's vars reach the command as environment variables, per group and host", async () => {
    const inv = join(tmp.dir, 'vars.yml');
    writeFileSync(
      inv,
      [
        'defaults: { vars: { region: eu, replicas: 3 } }',
        'hosts:',
        '  h02: { vars: { region: us } }',
        'groups:',
        "  web: { hosts: 'h[01-02]', vars: { tier: web } }",
        '',
      ].join('\n'),
    );
    const r = await fleetsh(
      ['run', ...conn, '-i', inv, '-w', '@web', '--gather', '--', 'echo "$region $tier $replicas"'],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^h01 \(1\)\n-+\neu web 3$/m);
    assert.match(r.stdout, /^h02 \(1\)\n-+\nus web 3$/m);

    writeFileSync(inv, "groups:\n  web: { hosts: 'h01', vars: { 'bad-name': x } }\n");
    const bad = await fleetsh(['run', ...conn, '-i', inv, '-w', '@web', '--', 'true'], { env });
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /h01: inventory variable "bad-name" cannot be an environment variable name/);
  });

  test('an unreachable host: listed as unreachable (refused), exit 2, @unreachable holds it', async () => {
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-02],h-dead-port', '--', 'true'], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /^unreachable \(refused\): h-dead-port \(1\)$/m);
    const hosts = await fleetsh(['hosts', '-w', '@unreachable'], { env });
    assert.equal(hosts.stdout, 'h-dead-port\n');
  });

  test('a name that does not resolve: listed as unreachable (dns) beside the hosts that answered, exit 2', async () => {
    // Lookups answer locally (the preload below): the test sends no DNS query.
    const lookups = join(tmp.dir, 'lookups.txt');
    const offline = {
      ...env,
      NODE_OPTIONS: `--require ${join(import.meta.dirname, 'fixtures', 'offline-dns.cjs')}`,
      FLEETSH_TEST_LOOKUPS: lookups,
    };
    const hosts = 'h[01-02],no-such-host.invalid';
    const r = await fleetsh(['run', ...conn, '-w', hosts, '--', 'echo ok'], { env: offline });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /^unreachable \(dns\): no-such-host\.invalid \(1\)$/m);
    assert.match(r.stdout, /no-such-host\.invalid: host name does not resolve/);
    assert.match(r.stdout, /2 ok/);
    const json = await fleetsh(['run', ...conn, '-w', hosts, '--json', '--', 'echo ok'], { env: offline });
    assert.equal(json.code, 2, json.stderr);
    const doc = JSON.parse(json.stdout);
    const bad = doc.hosts.find((h: { host: string }) => h.host === 'no-such-host.invalid');
    assert.deepEqual([bad.status, bad.kind], ['unreachable', 'dns']);
    assert.equal(doc.hosts.filter((h: { status: string }) => h.status === 'ok').length, 2);
    const asked = readFileSync(lookups, 'utf8').trim().split('\n');
    assert.deepEqual([...new Set(asked)], ['no-such-host.invalid'], 'only the name was looked up, locally');
  });

  test('--gather prints only the end; --stream only the live lines and the summary', async () => {
    const g = await fleetsh(['run', ...conn, '-w', 'h[01-03]', '--gather', '--', 'echo same'], { env });
    assert.equal(g.code, 0, g.stderr);
    assert.doesNotMatch(g.stdout, /^h01: /m);
    assert.match(g.stdout, /^h\[01-03\] \(3\)\n-+\nsame$/m);
    const s = await fleetsh(['run', ...conn, '-w', 'h[01-03]', '--stream', '--', 'echo same'], { env });
    assert.match(s.stdout, /^h01: +same$/m);
    assert.doesNotMatch(s.stdout, /^h\[01-03\] \(3\)$/m);
    assert.match(s.stdout, /^3 hosts: 3 ok/m);
  });

  test('--json: one document with the report and the exit code', async () => {
    const r = await fleetsh(
      ['run', ...conn, '-w', 'h[01-03],h-dead-port', '--json', '--', `echo out; ${failOn('h02')}`],
      { env },
    );
    assert.equal(r.code, 2);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.counts, { total: 4, ok: 2, failed: 1, timeout: 0, unreachable: 1, skipped: 0 });
    assert.equal(doc.exitCode, 2);
    assert.equal(doc.interrupted, false);
    const h02 = doc.hosts.find((h: { host: string }) => h.host === 'h02');
    assert.equal(h02.exitCode, 3);
    assert.equal(h02.stderr, 'broken\n');
    assert.equal(doc.hosts.find((h: { host: string }) => h.host === 'h-dead-port').kind, 'refused');
  });

  test('--ndjson: one event a line as it happens, the library event names, then exit', async () => {
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--ndjson', '--', 'echo a; echo b >&2'], {
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const names = events.map((e) => e.event);
    assert.equal(names[0], 'batch:start');
    assert.equal(events[0].total, 2);
    assert.equal(names.filter((n) => n === 'server:start').length, 2);
    assert.equal(names.filter((n) => n === 'server:success').length, 2);
    assert.deepEqual(
      events
        .filter((e) => e.event === 'server:output' && e.server === 'h01')
        .map((e) => [e.stream, e.line])
        .sort(),
      [
        ['stderr', 'b'],
        ['stdout', 'a'],
      ],
    );
    assert.equal(names.at(-2), 'batch:complete');
    assert.equal(events.at(-2).report.counts.ok, 2);
    assert.deepEqual([events.at(-1).event, events.at(-1).code], ['exit', 0]);
  });

  test("--output-dir: each host's stdout and stderr in files", async () => {
    const dir = join(tmp.dir, 'out');
    const r = await fleetsh(
      ['run', ...conn, '-w', 'h[01-02]', '--output-dir', dir, '--gather', '--', 'seq 1 3; echo err >&2'],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    for (const h of ['h01', 'h02']) {
      assert.equal(readFileSync(join(dir, `${h}.out`), 'utf8'), '1\n2\n3\n');
      assert.equal(readFileSync(join(dir, `${h}.err`), 'utf8'), 'err\n');
    }
    assert.equal(existsSync(join(dir, 'h03.out')), false);
  });

  test('--output-dir files hold the bytes exactly: invalid UTF-8, CRLF, NUL, no final newline', async () => {
    const dir = join(tmp.dir, 'exact');
    const r = await fleetsh(
      [
        'run',
        ...conn,
        '-w',
        'h01',
        '--output-dir',
        dir,
        '--',
        String.raw`printf 'a\r\nb\377\000c'; printf 'e\376' >&2`,
      ],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(join(dir, 'h01.out')), Buffer.from('a\r\nb\xff\x00c', 'latin1'));
    assert.deepEqual(readFileSync(join(dir, 'h01.err')), Buffer.from('e\xfe', 'latin1'));
  });

  test('--timeout: the host is timed out and killed, exit 1', async () => {
    const r = await fleetsh(['run', ...conn, '-w', 'h01', '--timeout', '500ms', '--', 'sleep 30'], {
      env,
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^timeout: h01 \(1\)$/m);
    assert.match(r.stdout, /1 timed out/);
  });

  test('--fail-fast and --max-failures skip the hosts not started', async () => {
    const ff = await fleetsh(
      ['run', ...conn, '-w', 'h[01-04]', '-f', '1', '--fail-fast', '--', failOn('h01')],
      { env },
    );
    assert.equal(ff.code, 1, ff.stderr);
    assert.match(ff.stdout, /^skipped \(fail-fast\): h\[02-04\] \(3\)$/m);
    const mf = await fleetsh(
      ['run', ...conn, '-w', 'h[01-04]', '-f', '1', '--max-failures', '1', '--', 'false'],
      { env },
    );
    assert.equal(mf.code, 1);
    assert.match(mf.stdout, /2 failed, 2 skipped/);
    const hosts = await fleetsh(['hosts', '--fold', '-w', '@skipped'], { env });
    assert.equal(hosts.stdout, 'h[03-04]\n');
  });

  test('-f adaptive runs every host', async () => {
    const r = await fleetsh(
      ['run', ...conn, '-w', 'h[01-04]', '-f', 'adaptive', '--gather', '--', 'echo x'],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /4 hosts: 4 ok/);
  });

  test('colours only when asked on a pipe (FORCE_COLOR), never with NO_COLOR', async () => {
    const plain = await fleetsh(['run', ...conn, '-w', 'h01', '--', 'echo x'], { env });
    assert.doesNotMatch(plain.stdout, /\x1b\[/);
    const forced = await fleetsh(['run', ...conn, '-w', 'h01', '--', 'echo x'], {
      env: { ...env, NO_COLOR: undefined, FORCE_COLOR: '1' },
    });
    assert.match(forced.stdout, /\x1b\[\d+mh01:/);
    const both = await fleetsh(['run', ...conn, '-w', 'h01', '--', 'echo x'], {
      env: { ...env, NO_COLOR: '1', FORCE_COLOR: '1' },
    });
    assert.doesNotMatch(both.stdout, /\x1b\[/);
  });

  describe('a hostile host', () => {
    /** HOSTILE on every host's stdout; h02 prints it on stderr too and fails, so its error quotes it. */
    const hostile = () =>
      `${HOSTILE}; case " $SSH_CONNECTION " in *" ${fleet.host('h02').address} "*) ${HOSTILE} >&2; exit 3;; esac`;

    test('in a pipe: live lines, output groups and the failure list show its control characters escaped', async () => {
      const r = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--', hostile()], { env });
      assert.equal(r.code, 1, r.stderr);
      for (const out of [r.stdout, r.stderr]) assert.doesNotMatch(out, CONTROL);
      assert.ok(r.stdout.includes(`h01: ${HOSTILE_SHOWN}\n`), r.stdout);
      assert.ok(r.stderr.includes(`h02: ${HOSTILE_SHOWN}\n`), r.stderr);
      assert.ok(r.stdout.includes(`\n    ${HOSTILE_SHOWN}\n`), 'the stderr tail in the failure list');
      assert.doesNotMatch(r.stdout + r.stderr, /^FAKE: ok/m);
      const g = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--gather', '--', hostile()], { env });
      assert.equal(g.code, 1, g.stderr);
      assert.doesNotMatch(g.stdout + g.stderr, CONTROL);
      assert.equal(/^h\[01-02\] \(2\)\n-+\n(.*)$/m.exec(g.stdout)?.[1], HOSTILE_SHOWN, 'the output group');
    });

    test("fleetsh's own colours are kept: only its SGR sequences reach the pipe", async () => {
      const r = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--', hostile()], {
        env: { ...env, NO_COLOR: undefined, FORCE_COLOR: '1' },
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /\x1b\[\d+mh01:\x1b\[39m +\\x1b\]0;PWNED/);
      const out = r.stdout + r.stderr;
      assert.doesNotMatch(out.replace(/\x1b\[\d+m/g, ''), CONTROL);
    });

    test('--raw prints its bytes as they came', async () => {
      const r = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--raw', '--', hostile()], { env });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stdout.includes(`h01: ${HOSTILE_BYTES}`), JSON.stringify(r.stdout));
      assert.ok(r.stderr.includes(`h02: ${HOSTILE_BYTES}`), JSON.stringify(r.stderr));
      const g = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--raw', '--gather', '--', hostile()], {
        env,
      });
      assert.ok(g.stdout.includes(`(2)\n----------------\n${HOSTILE_BYTES}`), 'the output group, raw');
    });

    test('--json and --ndjson escape it by construction (ESC as \\u001b) and keep the exact text', async () => {
      const json = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--json', '--', hostile()], { env });
      assert.equal(json.code, 1, json.stderr);
      assert.doesNotMatch(json.stdout, CONTROL);
      assert.ok(json.stdout.includes(String.raw`\u001b]0;PWNED\u0007\u001b[2Jhidden\rFAKE: ok\n`));
      const doc = JSON.parse(json.stdout);
      for (const h of doc.hosts) assert.equal(h.stdout, HOSTILE_BYTES);
      assert.equal(doc.hosts[1].stderr, HOSTILE_BYTES);

      const nd = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--ndjson', '--', hostile()], { env });
      assert.equal(nd.code, 1, nd.stderr);
      assert.doesNotMatch(nd.stdout, CONTROL);
      assert.ok(nd.stdout.includes(String.raw`"line":"\u001b]0;PWNED\u0007\u001b[2Jhidden\rFAKE: ok"`));
      const lines = nd.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.event === 'server:output');
      assert.ok(lines.length >= 3 && lines.every((e) => e.line === HOSTILE_BYTES.trimEnd()));
    });

    test('--output-dir files keep its exact bytes', async () => {
      const dir = join(tmp.dir, 'hostile');
      const r = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--output-dir', dir, '--', hostile()], {
        env,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(readFileSync(join(dir, 'h01.out'), 'utf8'), HOSTILE_BYTES);
      assert.equal(readFileSync(join(dir, 'h02.err'), 'utf8'), HOSTILE_BYTES);
      assert.doesNotMatch(r.stdout, CONTROL);
    });
  });
});
