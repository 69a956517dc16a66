import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { FailurePolicy, resolveBudget } from '../../src/fleet/policy.js';
import type { FleetReport } from '../../src/fleet/report.js';
import { fakeFleet, makeDirs, names, type FakeFleet } from './helpers.js';

let f: FakeFleet;
const hosts = names('n', 20);
before(async () => {
  f = await fakeFleet({
    n2: { unreachable: { kind: 'refused' } },
    n4: { unreachable: { kind: 'refused' } },
  });
  await makeDirs(f, hosts);
});
after(() => f.cleanup());

function everyHostOnce(report: FleetReport, expected = hosts) {
  assert.deepEqual(
    report.hosts.map((h) => h.host),
    expected,
  );
  const c = report.counts;
  assert.equal(c.ok + c.failed + c.timeout + c.unreachable + c.skipped, c.total);
  assert.equal(c.total, expected.length);
}

// Hosts n5, n6 fail; the rest sleep a little so that fail-fast finds others in flight.
const cmd = (h: string) => (h === 'n5' || h === 'n6' ? 'exit 3' : 'sleep 0.3');

describe('budgets', () => {
  test('resolveBudget reads counts and percentages of the total', () => {
    assert.equal(resolveBudget(5, 100, 'maxFailures'), 5);
    assert.equal(resolveBudget('10%', 45, 'maxFailures'), 4);
    assert.equal(resolveBudget('100%', 7, 'maxFailures'), 7);
    assert.equal(resolveBudget(undefined, 7, 'maxFailures'), Infinity);
    assert.throws(() => resolveBudget(-1, 7, 'maxFailures'), /option maxFailures/);
  });

  test('unreachable hosts count against maxFailures unless maxUnreachable is given', () => {
    const shared = new FailurePolicy({ maxFailures: 1 }, 10);
    assert.equal(shared.record('a', 'unreachable'), undefined);
    assert.match(shared.record('b', 'failed')!.reason, /maxFailures 1 exceeded \(2 failed\)/);
    const separate = new FailurePolicy({ maxFailures: 1, maxUnreachable: 5 }, 10);
    for (const h of ['a', 'b', 'c']) assert.equal(separate.record(h, 'unreachable'), undefined);
    assert.equal(separate.record('d', 'failed'), undefined);
    assert.equal(separate.record('e', 'timeout')!.kind, 'budget');
  });
});

describe('failure policy in a run', () => {
  test('continue-on-error is the default: every host runs', async () => {
    const report = await fleet(hosts, { connect: f.connect, concurrency: 20 }).each(
      (sh, ctx) => sh`${cmd(ctx.host)}`,
    );
    everyHostOnce(report);
    assert.deepEqual(
      [report.counts.ok, report.counts.failed, report.counts.unreachable, report.counts.skipped],
      [16, 2, 2, 0],
    );
  });

  test('failFast lets hosts in flight finish by default, and skips the rest with a reason', async () => {
    const list = hosts.filter((h) => h !== 'n2' && h !== 'n4');
    const report = await fleet(list, { connect: f.connect, concurrency: 5, failFast: true }).each(
      (sh, ctx) => sh`${cmd(ctx.host)}`,
    );
    everyHostOnce(report, list);
    // the window holds n1 n3 n5 n6 n7: n5 fails at once, the others were in flight and finish
    assert.equal(report.hosts.find((h) => h.host === 'n5')!.status, 'failed');
    for (const h of ['n1', 'n3', 'n7']) assert.equal(report.hosts.find((r) => r.host === h)!.status, 'ok', h);
    const skipped = report.byStatus('skipped');
    assert.equal(skipped.length, list.length - 5);
    assert.equal(skipped[0]!.kind, 'fail-fast');
    assert.match(skipped[0]!.reason!, /fail-fast: n[56] was failed/);
    assert.match(report.stopped!, /fail-fast/);
  });

  test("failFast with inFlight: 'kill' kills hosts in flight", async () => {
    const list = hosts.filter((h) => h !== 'n2' && h !== 'n4');
    const t0 = performance.now();
    const report = await fleet(list, {
      connect: f.connect,
      concurrency: 5,
      failFast: true,
      inFlight: 'kill',
    }).each((sh, ctx) => sh`${ctx.host === 'n5' ? 'sleep 0.1; exit 3' : 'sleep 5'}`);
    assert.ok(performance.now() - t0 < 4500, 'in-flight commands were killed, not awaited');
    everyHostOnce(report, list);
    const n1 = report.hosts[0]!;
    assert.equal(n1.status, 'failed');
    assert.equal(n1.kind, 'cancelled');
    assert.match(n1.reason!, /killed in flight: fail-fast: n5 was failed/);
    assert.equal(report.counts.skipped, list.length - 5);
  });

  test('a count budget stops after more than n failures', async () => {
    const report = await fleet(hosts, { connect: f.connect, concurrency: 1, maxFailures: 2 }).each(
      (sh, ctx) => sh`${cmd(ctx.host)}`.timeout(2000),
    );
    everyHostOnce(report);
    // in order: n2 unreachable (1), n4 unreachable (2), n5 failed (3 > 2): stop
    assert.equal(report.hosts.find((h) => h.host === 'n5')!.status, 'failed');
    assert.equal(report.hosts.find((h) => h.host === 'n6')!.status, 'skipped');
    assert.equal(report.counts.skipped, 15);
    assert.match(
      report.byStatus('skipped')[0]!.reason!,
      /maxFailures 2 exceeded \(3 failed\), the last being n5/,
    );
  });

  test('a percentage budget with unreachable hosts counted separately', async () => {
    const each = (sh: any, ctx: any) => sh`${ctx.host === 'n1' ? 'sleep 0.2' : cmd(ctx.host)}`;
    // 10% of 20 = 2 failures allowed; unreachable hosts have their own budget of 5
    const r1 = await fleet(hosts, {
      connect: f.connect,
      concurrency: 1,
      maxFailures: '10%',
      maxUnreachable: 5,
    }).each(each);
    everyHostOnce(r1);
    assert.equal(r1.counts.skipped, 0, 'two failures and two unreachable are within budgets');
    const r2 = await fleet(hosts, {
      connect: f.connect,
      concurrency: 1,
      maxFailures: '10%',
      maxUnreachable: 1,
    }).each(each);
    everyHostOnce(r2);
    assert.equal(r2.hosts.find((h) => h.host === 'n4')!.status, 'unreachable');
    assert.equal(r2.hosts.find((h) => h.host === 'n5')!.status, 'skipped');
    assert.match(r2.stopped!, /maxUnreachable 1 exceeded/);
  });
});

describe('timeouts, deadline and cancel', () => {
  test('a per-host timeout kills the command and reports the host as timeout', async () => {
    const t0 = performance.now();
    const report = await fleet(['n1', 'n3'], { connect: f.connect, timeout: 300 }).each(
      (sh, ctx) => sh`${ctx.host === 'n1' ? 'sleep 10' : 'echo fine'}`,
    );
    assert.ok(performance.now() - t0 < 6000);
    assert.equal(report.hosts[0]!.status, 'timeout');
    assert.equal(report.hosts[0]!.kind, 'timeout');
    assert.match(report.hosts[0]!.error!, /n1: timed out after 300 ms/);
    assert.equal(report.hosts[1]!.status, 'ok');
  });

  test('the deadline skips hosts not started and kills those running', async () => {
    const t0 = performance.now();
    const report = await fleet(hosts, { connect: f.connect, concurrency: 4, deadline: 400 }).run`sleep 0.3`;
    assert.ok(performance.now() - t0 < 5000);
    everyHostOnce(report);
    const running = report.hosts.filter((h) => h.status === 'timeout');
    assert.ok(running.length >= 1, 'hosts in flight at the deadline are timeout');
    assert.match(running[0]!.reason!, /deadline of 400 ms passed/);
    assert.ok(report.counts.skipped >= 8);
    assert.equal(report.byStatus('skipped')[0]!.kind, 'deadline');
  });

  test('cancel kills hosts in flight and reports every host once', async () => {
    const run = fleet(hosts, { connect: f.connect, concurrency: 3 }).run`echo started; sleep 5`;
    const t0 = performance.now();
    let started = 0;
    run.on('server:output', () => ++started === 3 && void run.cancel('operator pressed Ctrl-C'));
    const report = await run;
    assert.ok(performance.now() - t0 < 4500);
    everyHostOnce(report);
    // n2 and n4 are unreachable at once, so n1 n3 n5 were in flight at the cancel
    assert.deepEqual(
      report.hosts.filter((h) => h.status === 'failed').map((h) => `${h.host}:${h.kind}`),
      ['n1:cancelled', 'n3:cancelled', 'n5:cancelled'],
    );
    assert.equal(report.counts.skipped, 15);
    assert.equal(report.byStatus('skipped')[0]!.reason, 'operator pressed Ctrl-C');
  });

  test('cancel before the start skips every host', async () => {
    const run = fleet(hosts, { connect: f.connect }).run`true`;
    const report = await run.cancel();
    everyHostOnce(report);
    assert.equal(report.counts.skipped, 20);
  });
});
