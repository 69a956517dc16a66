import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { batchSizes, rolling } from '../../src/fleet/rolling.js';
import { settlesWithin } from '../harness/settle.js';
import { fakeFleet, makeDirs, names, type FakeFleet } from './helpers.js';

let f: FakeFleet;
let log: string;
const db = ['db1'];
const api = names('api', 2);
const web = names('web', 10);
before(async () => {
  f = await fakeFleet();
  await makeDirs(f, [...db, ...api, ...web]);
  log = join(f.root, 'deploy.log');
});
beforeEach(() => rm(log, { force: true }));
after(() => f.cleanup());

const deploy = () => `echo "deploy $HOST" >> ${log}`;
const lines = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);

describe('batch sizes', () => {
  test('counts and percentages of the phase, the last size repeating', () => {
    assert.deepEqual(batchSizes(20, [1, '10%', '100%']), [1, 2, 17]);
    assert.deepEqual(batchSizes(5, 2), [2, 2, 1]);
    assert.deepEqual(batchSizes(3, '10%'), [1, 1, 1]);
    assert.deepEqual(batchSizes(0, [1]), []);
    assert.throws(() => batchSizes(5, [0]), /option batches/);
  });
});

describe('rolling deployment', () => {
  test('phases in order, batches within a phase, a health check after each host', async () => {
    const batches: string[] = [];
    const run = rolling({
      connect: f.connect,
      phases: [
        { name: 'database', targets: db, command: deploy() },
        { name: 'api', targets: api, command: deploy() },
        { name: 'web', targets: web, command: deploy(), batches: [1, '10%', '100%'] },
      ],
      healthCheck: `echo "health $HOST" >> ${log}`,
    });
    run.on('rolling:batch', (b) => batches.push(`${b.phase}#${b.batch}:${b.hosts}`));
    const report = await run;
    assert.equal(report.ok, true);
    assert.deepEqual(batches.slice(0, 5), [
      'database#1:db1',
      'api#1:api1',
      'api#2:api2',
      'web#1:web1',
      'web#2:web2',
    ]);
    assert.equal(batches.length, 6);
    const l = await lines();
    assert.deepEqual(l.slice(0, 6), [
      'deploy db1',
      'health db1',
      'deploy api1',
      'health api1',
      'deploy api2',
      'health api2',
    ]);
    assert.equal(l.length, 26);
    assert.equal(report.done.length, 13);
    assert.deepEqual(report.notDone, []);
    assert.match(report.toText(), /^phase web: done\nbatch 1: web1: 1 ok\nbatch 2: web2: 1 ok\nbatch 3: /m);
  });

  test('stops at its budget, leaving later batches and phases untouched, and says why', async () => {
    const report = await rolling({
      connect: f.connect,
      phases: [
        { name: 'web', targets: web, command: deploy(), batches: [1, 3, '100%'] },
        { name: 'api', targets: api, command: deploy() },
      ],
      // web3 is unhealthy
      healthCheck: (sh, ctx) => sh`test ${ctx.host} != web3`.then(() => true),
      maxFailures: 0,
    });
    assert.equal(report.ok, false);
    assert.deepEqual(report.done, ['web1', 'web2', 'web4']);
    assert.deepEqual(report.failed, ['web3']);
    assert.deepEqual(report.notDone, [...web.slice(4), ...api]);
    assert.match(report.stopped!, /maxFailures 0 exceeded \(1 failed\) in phase web, batch 2: web3/);
    const l = await lines();
    assert.deepEqual(
      l.sort(),
      ['deploy web1', 'deploy web2', 'deploy web3', 'deploy web4'],
      'later batches never ran',
    );
    assert.deepEqual(
      report.phases.map((p) => p.status),
      ['stopped', 'not-started'],
    );
    const web3 = report.phases[0]!.report.hosts[2]!;
    assert.equal(web3.status, 'failed');
    assert.match(web3.error!, /web3: health check failed/);
    const web5 = report.phases[0]!.report.hosts[4]!;
    assert.equal(web5.status, 'skipped');
    assert.match(web5.reason!, /not started: maxFailures 0 exceeded/);
    assert.match(report.phases[1]!.report.hosts[0]!.reason!, /phase not started/);
    const json = JSON.parse(JSON.stringify(report));
    assert.equal(json.notDone, 'api[1-2],web[5-10]');
  });

  test('a budget allows failures; health checks can run per batch; pause waits between batches', async () => {
    const t0 = performance.now();
    const report = await rolling({
      connect: f.connect,
      phases: [{ name: 'web', targets: web.slice(0, 4), command: deploy(), batches: 2 }],
      healthCheck: { command: 'test $HOST != web2', attempts: 2, interval: 10 },
      healthCheckAfter: 'batch',
      pause: 300,
      maxFailures: 1,
    });
    assert.ok(performance.now() - t0 >= 300);
    assert.deepEqual(report.done, ['web1', 'web3', 'web4']);
    assert.deepEqual(report.failed, ['web2']);
    assert.equal(report.stopped, null);
  });

  test('a failed command counts, and a cancel stops the deployment', async () => {
    const run = rolling({
      connect: f.connect,
      phases: [{ name: 'web', targets: web, command: 'sleep 5' }],
      maxFailures: '100%',
    });
    run.on('rolling:batch', () => setTimeout(() => void run.cancel('operator stop'), 50));
    const report = await run;
    assert.equal(report.stopped, 'operator stop');
    assert.equal(report.failed.length, 1);
    assert.equal(report.notDone.length, 9);
  });

  test("toText() shows a host's control characters escaped, quoted in an error message", async () => {
    const report = await rolling({
      connect: f.connect,
      phases: [{ name: 'web', targets: web.slice(0, 2), command: 'true' }],
      // A health check that quotes what the host said when it is not what it expected.
      healthCheck: (sh) =>
        sh`printf '\\033]0;PWNED\\007\\033[2Jhidden\\rFAKE: ok\\n'`.then((r) => {
          throw new Error(`unexpected: ${r.stdout}`);
        }),
    });
    const text = report.toText();
    assert.match(
      text,
      /^failed: web1 \(1\)\n  web1: health check failed: unexpected: \\x1b\]0;PWNED\\x07\\x1b\[2Jhidden\\rFAKE: ok/m,
    );
    assert.doesNotMatch(text, /[\x1b\x07\r]/);
    assert.match(report.phases[0]!.report.hosts[0]!.error!, /\x1b\]0;PWNED\x07/, 'the error keeps the bytes');
  });
});

describe('cancelling a rolling deployment', () => {
  // Measured here with local shells (load average 20 on 2 cores): a cancel in any of these waits
  // returns in under 1 ms; before they listened to it, after 5 s (the kill grace) or 30 s.
  const WITHIN_MS = 1000;

  test('during a 30 s pause between batches: it returns within a second and starts no other batch', async () => {
    const run = rolling({
      connect: f.connect,
      phases: [{ name: 'web', targets: web.slice(0, 3), command: deploy() }],
      pause: '30s',
    });
    let t0 = 0;
    run.on('rolling:batch-done', ({ batch }) => {
      if (batch === 1)
        setTimeout(() => {
          t0 = performance.now();
          void run.cancel('operator stop');
        }, 100);
    });
    const report = await settlesWithin(run, 15_000, 'a deployment cancelled in its pause');
    const ms = performance.now() - t0;
    assert.ok(ms < WITHIN_MS, `returned ${Math.round(ms)} ms after the cancel`);
    assert.equal(report.stopped, 'operator stop');
    assert.deepEqual(report.done, ['web1']);
    assert.deepEqual(report.notDone, ['web2', 'web3']);
    assert.deepEqual(
      report.phases[0]!.report.hosts.map((h) => h.kind),
      [null, 'cancelled', 'cancelled'],
      'not started because of the cancel, not of a budget',
    );
    assert.deepEqual(await lines(), ['deploy web1']);
  });

  for (const after of ['host', 'batch'] as const) {
    test(`during a health check's 30 s retry interval (healthCheckAfter ${after}): the host is cancelled within a second`, async () => {
      const run = rolling({
        connect: f.connect,
        phases: [{ name: 'web', targets: web.slice(0, 2), command: deploy() }],
        healthCheck: { command: `echo "health $HOST" >> ${log}; exit 1`, attempts: 3, interval: '30s' },
        healthCheckAfter: after,
        maxFailures: '100%',
      });
      let t0 = 0;
      const cancelled = (async () => {
        while (!(await lines()).includes('health web1')) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 100)); // into the interval
        t0 = performance.now();
        void run.cancel('operator stop');
      })();
      const report = await settlesWithin(run, 15_000, 'a deployment cancelled in a health check interval');
      await cancelled;
      const ms = performance.now() - t0;
      assert.ok(ms < WITHIN_MS, `returned ${Math.round(ms)} ms after the cancel`);
      assert.equal(report.stopped, 'operator stop');
      const web1 = report.phases[0]!.report.hosts[0]!;
      assert.equal(web1.status, 'failed');
      assert.equal(web1.kind, 'cancelled');
      assert.deepEqual(report.notDone, ['web2']);
      assert.deepEqual(await lines(), ['deploy web1', 'health web1'], 'the check was not tried again');
    });
  }
});
