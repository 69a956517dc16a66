import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { backoffMs, retryPolicy, shouldRetry } from '../../src/fleet/retry.js';
import { CommandError, ConnectionError, SudoError } from '../../src/process/errors.js';
import { CommandResult } from '../../src/process/result.js';
import { fakeFleet, makeDirs, type FakeFleet } from './helpers.js';

let f: FakeFleet;
before(async () => {
  f = await fakeFleet({
    flaky: { unreachable: { kind: 'connect-timeout', delayMs: 20, times: 2 } },
    dead: { unreachable: { kind: 'refused' } },
    badkey: { unreachable: { kind: 'auth' } },
  });
  await makeDirs(f, ['flaky', 'dead', 'badkey', 'good', 'sometimes']);
});
after(() => f.cleanup());

const failedResult = new CommandResult({
  host: 'h',
  command: 'x',
  exitCode: 1,
  signal: null,
  stdoutBuffer: Buffer.alloc(0),
  stderrBuffer: Buffer.alloc(0),
  stdoutTruncated: false,
  stderrTruncated: false,
  stderrTail: '',
  durationMs: 1,
});

describe('retry policy', () => {
  test('backoff is exponential, capped, and jitter only shortens it', () => {
    const p = retryPolicy({ attempts: 10, baseMs: 100, factor: 2, maxMs: 1000, jitter: 0 });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((a) => backoffMs(p, a)),
      [100, 200, 400, 800, 1000],
    );
    const j = retryPolicy({ attempts: 10, baseMs: 1000, jitter: 0.5 });
    assert.equal(
      backoffMs(j, 1, () => 0),
      1000,
    );
    assert.equal(
      backoffMs(j, 1, () => 1),
      500,
    );
  });

  test('by default only transient connection failures are retried, and never past the attempts', () => {
    const p = retryPolicy({ attempts: 3 });
    assert.equal(shouldRetry(p, new ConnectionError('refused', 'h', 'x'), 1), true);
    assert.equal(shouldRetry(p, new ConnectionError('connect-timeout', 'h', 'x'), 2), true);
    assert.equal(shouldRetry(p, new ConnectionError('connect-timeout', 'h', 'x'), 3), false);
    assert.equal(shouldRetry(p, new ConnectionError('auth', 'h', 'x'), 1), false);
    assert.equal(shouldRetry(p, new ConnectionError('changed-host-key', 'h', 'x'), 1), false);
    assert.equal(shouldRetry(p, new CommandError(failedResult), 1), false);
    assert.equal(
      shouldRetry(retryPolicy({ attempts: 3, on: 'failed' }), new CommandError(failedResult), 1),
      true,
    );
    assert.equal(
      shouldRetry(retryPolicy({ attempts: 3, on: 'failed' }), new ConnectionError('refused', 'h', 'x'), 1),
      false,
    );
    assert.equal(
      shouldRetry(
        retryPolicy({ attempts: 3, on: (e) => e instanceof CommandError }),
        new CommandError(failedResult),
        1,
      ),
      true,
    );
    assert.equal(shouldRetry(retryPolicy(1), new ConnectionError('refused', 'h', 'x'), 1), false);
  });

  test("sudo's refusals are never retried by the rules (each wrong password counts toward a lockout)", () => {
    for (const reason of ['refused', 'password-rejected', 'not-found'] as const) {
      const e = new SudoError(failedResult, { reason, user: undefined, passwordGiven: true, pty: false });
      for (const on of ['failed', 'any'] as const)
        assert.equal(shouldRetry(retryPolicy({ attempts: 3, on }), e, 1), false, `${reason}, on ${on}`);
      // A function of the caller's decides for itself.
      assert.equal(shouldRetry(retryPolicy({ attempts: 3, on: () => true }), e, 1), true);
    }
  });

  test('rejects bad settings, naming the option', () => {
    assert.throws(() => retryPolicy({ attempts: 0 }), /retries.attempts/);
    assert.throws(() => retryPolicy({ jitter: 2 }), /retries.jitter/);
    assert.throws(() => retryPolicy({ on: 'sometimes' as any }), /retries.on/);
  });
});

describe('retries in a run', () => {
  test('an unreachable host is retried with backoff; every attempt is in events and the report', async () => {
    const run = fleet(['flaky', 'dead', 'badkey', 'good'], {
      connect: f.connect,
      retries: { attempts: 3, baseMs: 150, factor: 2, jitter: 0 },
    }).run`echo ok`;
    const retries: any[] = [];
    const starts: Record<string, number[]> = {};
    run.on('server:retry', (e) => retries.push({ ...e, at: performance.now() }));
    run.on('server:start', (e) => (starts[e.server] ??= []).push(performance.now()));
    const report = await run;
    const flaky = report.hosts[0]!;
    assert.equal(flaky.status, 'ok');
    assert.deepEqual(
      flaky.attempts.map((a) => [a.attempt, a.status, a.kind, a.retryInMs]),
      [
        [1, 'unreachable', 'connect-timeout', 150],
        [2, 'unreachable', 'connect-timeout', 300],
        [3, 'ok', null, null],
      ],
    );
    const s = starts['flaky']!;
    const gap1 = s[1]! - s[0]!;
    const gap2 = s[2]! - s[1]!;
    // each gap is the attempt (~20 ms) plus its backoff
    assert.ok(gap1 >= 165 && gap1 < 1500, `first gap ${gap1}`);
    assert.ok(gap2 >= 315 && gap2 < 1700, `second gap ${gap2}`);
    assert.ok(flaky.durationMs >= 480, 'the host duration includes backoff');
    assert.equal(report.hosts[1]!.status, 'unreachable');
    assert.equal(report.hosts[1]!.attempts.length, 3, 'refused is retried');
    assert.equal(report.hosts[2]!.attempts.length, 1, 'auth is not retried');
    assert.deepEqual(
      retries.filter((r) => r.server === 'flaky').map((r) => [r.attempt, r.delayMs, r.kind]),
      [
        [2, 150, 'connect-timeout'],
        [3, 300, 'connect-timeout'],
      ],
    );
  });

  test("a failed command is retried only with on: 'failed'", async () => {
    const counter = `${f.dirOf('sometimes')}/count`;
    const cmd = (c: string) =>
      `n=$(cat ${c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${c}; [ $n -ge 2 ]`;
    const r1 = await fleet(['sometimes'], { connect: f.connect, retries: { attempts: 3, baseMs: 10 } })
      .run`${cmd(counter)}`;
    assert.equal(r1.hosts[0]!.status, 'failed');
    assert.equal(r1.hosts[0]!.attempts.length, 1);
    const r2 = await fleet(['sometimes'], {
      connect: f.connect,
      retries: { attempts: 3, baseMs: 10, on: 'failed' },
    }).run`${cmd(counter)}`;
    assert.equal(r2.hosts[0]!.status, 'ok');
  });

  test('a retry waiting out its backoff holds no slot, and is abandoned (reported once) on cancel', async () => {
    const run = fleet(['dead', 'good'], {
      connect: f.connect,
      concurrency: 1,
      retries: { attempts: 5, baseMs: 10_000, jitter: 0 },
    }).run`echo hi`;
    const order: string[] = [];
    run.on('server:start', (e) => order.push(e.server));
    run.on('server:success', () => void run.cancel('enough'));
    const t0 = performance.now();
    const report = await run;
    assert.ok(performance.now() - t0 < 5000, 'the backoff was abandoned, not waited out');
    assert.deepEqual(order, ['dead', 'good'], 'good started while dead waited');
    assert.equal(report.hosts[0]!.status, 'unreachable');
    assert.match(report.hosts[0]!.reason!, /retry abandoned: enough/);
    assert.equal(report.hosts[1]!.status, 'ok');
  });
});
