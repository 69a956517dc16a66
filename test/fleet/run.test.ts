import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import type { HostResult } from '../../src/fleet/host-result.js';
import { fakeFleet, makeDirs, names, type FakeFleet } from './helpers.js';

let f: FakeFleet;
const hosts = names('web', 12);
before(async () => {
  f = await fakeFleet({
    web3: { unreachable: { kind: 'refused' } },
    web7: { unreachable: { kind: 'connect-timeout', delayMs: 50 } },
  });
  await makeDirs(f, hosts);
});
after(() => f.cleanup());

function exactlyOnce(results: readonly HostResult[], expected: string[]) {
  assert.deepEqual([...results.map((r) => r.host)].sort(), [...expected].sort());
}

/** Max simultaneous from a log of "+host" / "-host" lines. */
function maxOverlap(log: string): number {
  let now = 0;
  let max = 0;
  for (const line of log.trim().split('\n')) {
    now += line.startsWith('+') ? 1 : -1;
    max = Math.max(max, now);
  }
  return max;
}

describe('fleet run', () => {
  test('runs the command everywhere, never more than `concurrency` at once, as a sliding window', async () => {
    const ok = hosts.filter((h) => h !== 'web3' && h !== 'web7');
    const log = join(f.root, 'window.log');
    const started: number[] = [];
    const run = fleet(ok, { connect: f.connect, concurrency: 3 })
      .run`echo +$HOST >> ${log}; sleep 0.1; echo -$HOST >> ${log}; echo hi from $HOST`;
    run.on('server:start', () => started.push(performance.now()));
    const report = await run;
    assert.equal(report.counts.ok, ok.length);
    assert.ok(maxOverlap(await readFile(log, 'utf8')) <= 3);
    assert.equal(report.peakConcurrency, 3);
    assert.equal(report.hosts[0]!.stdout, 'hi from web1\n');
    assert.equal(report.groups.length, 1, 'near-identical outputs are one group');
    assert.equal(report.groups[0]!.similar, true);
  });

  test('a sliding window: a slow host does not hold back the others', async () => {
    const run = fleet(['web1', 'web2', 'web4', 'web5', 'web6'], { connect: f.connect, concurrency: 2 })
      .run`if [ $HOST = web1 ]; then sleep 3; else sleep 0.1; fi`;
    const order: string[] = [];
    run.on('server:start', ({ server }) => order.push(`start ${server}`));
    run.on('server:success', ({ server }) => order.push(`end ${server}`));
    await run;
    // chunked batches of 2 would start web4 only after web1 ended; a window starts it once web2 ends
    assert.ok(order.indexOf('start web6') < order.indexOf('end web1'), order.join(', '));
    assert.equal(order.at(-1), 'end web1');
  });

  test("emits the batch-operations guide's events with their payloads, each host once", async () => {
    const run = fleet(hosts, { connect: f.connect, concurrency: 4 }).run`echo up $HOST`;
    const events: Record<string, any[]> = {};
    for (const e of [
      'batch:start',
      'server:start',
      'server:success',
      'server:error',
      'server:output',
      'batch:complete',
    ]) {
      run.on(e as any, (p: any) => (events[e] ??= []).push(p));
    }
    const report = await run;
    assert.deepEqual(events['batch:start'], [{ total: 12, concurrency: 4 }]);
    assert.equal(events['server:start']!.length, 12);
    assert.equal(events['server:success']!.length, 10);
    assert.equal(events['server:error']!.length, 2);
    const s = events['server:success']!.find((p) => p.server === 'web2');
    assert.equal(s.result, 'up web2');
    assert.equal(s.index, 1);
    assert.ok(s.progress > 0 && s.progress <= 1);
    const e = events['server:error']!.find((p) => p.server === 'web3');
    assert.equal(typeof e.error, 'string');
    assert.match(e.error, /web3: connection refused/);
    assert.deepEqual(
      events['server:output']!.find((p) => p.server === 'web1'),
      { server: 'web1', index: 0, stream: 'stdout', line: 'up web1' },
    );
    const progresses = [...events['server:success']!, ...events['server:error']!]
      .map((p) => p.progress)
      .sort();
    assert.equal(progresses.at(-1), 1);
    assert.equal(events['batch:complete']!.length, 1);
    const { results } = events['batch:complete']![0];
    assert.equal(results.filter((r: any) => r.success).length, 10);
    exactlyOnce(report.hosts, hosts);
    assert.equal(report.counts.unreachable, 2);
    assert.equal(report.byStatus('unreachable').find((h) => h.host === 'web7')!.kind, 'connect-timeout');
  });

  test('is an async iterable of host results as they finish', async () => {
    const seen: string[] = [];
    for await (const r of fleet(hosts.slice(0, 5), { connect: f.connect }).run`true`)
      seen.push(`${r.host}:${r.status}`);
    assert.equal(seen.length, 5);
    assert.ok(seen.includes('web3:unreachable'));
  });

  test('a failed command is failed with its exit code and stderr, not unreachable', async () => {
    const report = await fleet(['web1', 'web2'], { connect: f.connect }).run`echo oops >&2; [ $HOST = web1 ]`;
    const web2 = report.hosts[1]!;
    assert.equal(web2.status, 'failed');
    assert.equal(web2.kind, 'failed');
    assert.equal(web2.exitCode, 1);
    assert.equal(web2.stderr, 'oops\n');
    assert.match(web2.error!, /web2: command exited with code 1/);
    assert.deepEqual(report.sets.failed, 'web2');
  });

  test('an undefined value throws before anything runs', () => {
    assert.throws(() => fleet(hosts, { connect: f.connect }).run`echo ${undefined}`, /value 1 .* undefined/);
  });

  test('validates options and targets at the boundary', () => {
    assert.throws(() => fleet(hosts, { connect: f.connect, concurrency: 0 }), /option concurrency/);
    assert.throws(
      () => fleet(hosts, { connect: f.connect, maxFailures: '10 percent' as any }),
      /option maxFailures/,
    );
    assert.throws(() => fleet(['a', 'deploy@a'], { connect: f.connect }), /listed twice/);
    assert.throws(() => fleet(['@web'], { connect: f.connect }), /web/);
    assert.deepEqual(fleet(['web[1-3,7]', 'db1'], { connect: f.connect }).names, [
      'web1',
      'web2',
      'web3',
      'web7',
      'db1',
    ]);
    assert.throws(
      () => fleet(hosts, { connect: f.connect, concurency: 3 } as any),
      /unknown fleet option "concurency"/,
    );
  });

  test('output is capped per host and stream, and the result says so', async () => {
    const report = await fleet(['web1'], { connect: f.connect, maxOutput: 1000 })
      .run`head -c 5000 /dev/zero | tr '\\0' x`;
    const h = report.hosts[0]!;
    assert.equal(h.stdout!.length, 1000);
    assert.equal(h.truncated, true);
    assert.throws(() => fleet(['web1'], { connect: f.connect, maxOutput: -1 }), /option maxOutput/);
  });

  test('a target is named by its host and port, never its user; IPv6 with a port in brackets', () => {
    const named = fleet(
      [
        'deploy@web1',
        'web2:2222',
        'deploy@web3:22',
        '[2001:db8::1]:22',
        'root@[2001:db8::2]',
        '2001:db8::3',
        { host: 'deploy@web4', port: 2222 },
        { host: '2001:db8::4', port: 22 },
        'deploy@web[5-6]:2222',
      ],
      { connect: f.connect },
    ).names;
    assert.deepEqual(named, [
      'web1',
      'web2:2222',
      'web3:22',
      '[2001:db8::1]:22',
      '2001:db8::2',
      '2001:db8::3',
      'web4:2222',
      '[2001:db8::4]:22',
      'web5:2222',
      'web6:2222',
    ]);
    assert.throws(
      () => fleet(['root@web1:22', 'deploy@web1:22'], { connect: f.connect }),
      /web1:22 is listed twice/,
    );
  });

  test('every command of a host sees FLEETSH_HOST, its name in the report, in run and in each', async () => {
    const run = await fleet(['web1', 'deploy@web2'], { connect: f.connect }).run`echo "$FLEETSH_HOST"`;
    assert.deepEqual(
      run.hosts.map((h) => [h.host, h.stdout]),
      [
        ['web1', 'web1\n'],
        ['web2', 'web2\n'],
      ],
    );
    const each = await fleet(['web4'], { connect: f.connect }).each(async (shell) => {
      const a = await shell`echo "$FLEETSH_HOST"`;
      const b = await shell.env({ OTHER: 'x' })`echo "$FLEETSH_HOST $OTHER"`;
      return a.stdout + b.stdout;
    });
    assert.equal(each.hosts[0]!.value, 'web4\nweb4 x\n');
  });

  test('targets may be server objects as the batch-operations guide writes them and user@host:port strings', async () => {
    const report = await fleet(
      [{ host: 'web1', username: 'deploy' }, 'deploy@web2', { host: 'web4', port: 2222, name: 'web4' }],
      {
        connect: f.connect,
      },
    ).run`echo $HOST`;
    assert.deepEqual(
      report.hosts.map((h) => h.stdout),
      ['web1\n', 'web2\n', 'web4\n'],
    );
  });
});
