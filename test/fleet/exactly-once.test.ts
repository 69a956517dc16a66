// Property: whatever the hosts do and whatever stops the run (fail-fast, budgets, retries, timeouts,
// deadline, cancel), every host is reported exactly once, with exactly one final event, and the
// concurrency limit is never exceeded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fleet } from '../../src/fleet/fleet.js';
import { ConnectionError } from '../../src/process/errors.js';
import { makeShell } from '../../src/command/shell.js';
import type { Connect, FleetShell } from '../../src/fleet/target.js';
import { HostTaskError } from '../../src/fleet/host-result.js';

const behaviour = fc.record({
  ms: fc.integer({ min: 0, max: 30 }),
  outcome: fc.constantFrom('ok', 'ok', 'ok', 'fail', 'unreachable', 'flaky', 'hang'),
  connectMs: fc.constantFrom(0, 0, 0, 5, 80),
});

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

test('every host is reported exactly once on every path', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(behaviour, { minLength: 0, maxLength: 25 }),
      fc.record({
        concurrency: fc.integer({ min: 1, max: 6 }),
        failFast: fc.boolean(),
        maxFailures: fc.option(
          fc.oneof(
            fc.integer({ min: 0, max: 4 }),
            fc.constantFrom('10%', '50%') as fc.Arbitrary<`${number}%`>,
          ),
          { nil: undefined },
        ),
        maxUnreachable: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
        inFlight: fc.constantFrom('finish', 'kill') as fc.Arbitrary<'finish' | 'kill'>,
        attempts: fc.integer({ min: 1, max: 3 }),
        timeout: fc.option(fc.constantFrom(20, 60), { nil: undefined }),
        deadline: fc.option(fc.integer({ min: 5, max: 150 }), { nil: undefined }),
        cancelAfter: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
        slowConnect: fc.constantFrom(10, false) as fc.Arbitrary<number | false>,
      }),
      async (hosts, o) => {
        const names = hosts.map((_, i) => `h${i}`);
        const tries = new Map<string, number>();
        const connect: Connect = (target) => {
          const name = String(target);
          const b = hosts[Number(name.slice(1))]!;
          const shell = makeShell(
            { host: name, exec: async () => ({ exitCode: 0, signal: null }) },
            {},
          ) as FleetShell;
          shell.connect = async () => {
            await sleep(b.connectMs);
            if (b.outcome === 'unreachable') throw new ConnectionError('refused', name, 'fake');
          };
          return shell;
        };
        let running = 0;
        let peak = 0;
        const run = fleet(names, {
          connect,
          concurrency: o.concurrency,
          failFast: o.failFast,
          maxFailures: o.maxFailures,
          maxUnreachable: o.maxUnreachable,
          inFlight: o.inFlight,
          retries: { attempts: o.attempts, baseMs: 3, jitter: 0.5, on: 'any' },
          timeout: o.timeout,
          deadline: o.deadline,
          slowConnect: o.slowConnect,
        }).each(async (shell, ctx) => {
          running++;
          peak = Math.max(peak, running);
          try {
            const b = hosts[ctx.index]!;
            const n = (tries.get(ctx.host) ?? 0) + 1;
            tries.set(ctx.host, n);
            if (b.outcome === 'unreachable') throw new ConnectionError('refused', ctx.host, 'fake');
            await sleep(b.outcome === 'hang' ? 300 : b.ms, ctx.signal);
            if (b.outcome === 'fail' || (b.outcome === 'flaky' && n === 1))
              throw new HostTaskError(ctx.host, 'fake failure', null);
            return n;
          } finally {
            running--;
          }
        });
        const finals = new Map<string, number>();
        for (const e of ['server:success', 'server:error', 'server:skipped'] as const) {
          run.on(e, (p: { server: string }) => finals.set(p.server, (finals.get(p.server) ?? 0) + 1));
        }
        if (o.cancelAfter !== undefined) setTimeout(() => void run.cancel('property cancel'), o.cancelAfter);
        const iterated: string[] = [];
        const iterating = (async () => {
          for await (const r of run) iterated.push(r.host);
        })();
        const report = await run;
        await iterating;
        assert.deepEqual(
          report.hosts.map((h) => h.host),
          names,
        );
        assert.deepEqual([...iterated].sort(), [...names].sort());
        for (const n of names) assert.equal(finals.get(n), 1, `${n} got ${finals.get(n)} final events`);
        const c = report.counts;
        assert.equal(c.ok + c.failed + c.timeout + c.unreachable + c.skipped, names.length);
        assert.ok(peak <= o.concurrency, `peak ${peak} > ${o.concurrency}`);
        for (const h of report.hosts) {
          if (h.status === 'skipped') assert.ok(h.reason && h.attempts.length === 0, JSON.stringify(h));
          else assert.ok(h.attempts.length >= 1 && h.attempts.length <= o.attempts, JSON.stringify(h));
        }
      },
    ),
    { numRuns: 150 },
  );
});
