// The adaptive limit's rule, sample by sample, and in a simulated fleet whose shared resource serves
// `capacity` hosts at full speed and shares itself among more (processor sharing): a host alone
// takes `base`, N at once each take base × max(1, N / capacity), plus contention past capacity.
// The simulation has no clock of its own (event times are computed), so it is exact and fast.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdaptiveLimit, type Sample } from '../../src/fleet/adaptive.js';
import { FixedLimit, type Limit } from '../../src/fleet/scheduler.js';

const ok = (durationMs: number, startedAt = 0, full = true): Sample => ({
  outcome: 'ok',
  durationMs,
  startedAt,
  full,
});

/** Feeds `n` samples; returns the changes. */
function feed(l: AdaptiveLimit, n: number, sample: (i: number) => Sample) {
  const changes = [];
  for (let i = 0; i < n; i++) {
    const c = l.observe(sample(i));
    if (c) changes.push(c);
  }
  return changes;
}

describe('adaptive limit, sample by sample', () => {
  test('decides once per round of hosts measured at the current limit: doubling while latency holds', () => {
    const l = new AdaptiveLimit({ initial: 8, max: 100 });
    assert.deepEqual(
      feed(l, 7, () => ok(100)),
      [],
      'no decision on a partial round',
    );
    const c = l.observe(ok(100))!;
    assert.deepEqual([c.from, c.to], [8, 16]);
    // hosts started before that change (at 8) measured 8, not 16: ignored
    assert.deepEqual(
      feed(l, 20, () => ok(100, 50)),
      [],
    );
    const next = feed(l, 16, () => ok(100, 200));
    assert.deepEqual(
      next.map((c) => c.to),
      [32],
    );
    // a round is at least 8 hosts, whatever the limit
    const small = new AdaptiveLimit({ initial: 2 });
    assert.deepEqual(
      feed(small, 7, () => ok(100)),
      [],
    );
    assert.equal(small.observe(ok(100))?.to, 4);
  });

  test('does not grow when no host was waiting for a slot (the end of a fleet)', () => {
    const l = new AdaptiveLimit({ initial: 4 });
    assert.deepEqual(
      feed(l, 12, () => ok(100, 0, false)),
      [],
    );
    assert.equal(l.current, 4);
  });

  test('a round slower than the baseline goes to the estimated knee: current × baseline / latency', () => {
    const l = new AdaptiveLimit({ initial: 8, max: 100 });
    feed(l, 8, () => ok(100, 0)); // 8 → 16 at 100 ms
    // half a round (its first hosts to end) is enough to see a queue: 16 × 100 × 1.125 / 160
    const cut = feed(l, 16, () => ok(160, 1000));
    assert.deepEqual(
      cut.map((c) => [c.from, c.to]),
      [[16, 11]],
    );
    assert.match(cut[0]!.reason, /latency 160 ms against 100 ms without a queue/);
    // back near the baseline: + √current a round, no more doubling
    const up = feed(l, 11, () => ok(105, 2000));
    assert.deepEqual(
      up.map((c) => c.to),
      [14],
    );
    // between 12.5 % and 25 % over the baseline it holds
    assert.deepEqual(
      feed(l, 14, () => ok(120, 3000)),
      [],
    );
    // never below half at once
    const l2 = new AdaptiveLimit({ initial: 20, max: 100 });
    feed(l2, 20, () => ok(100, 0));
    assert.equal(feed(l2, 40, () => ok(10_000, 1000))[0]!.to, 20);
  });

  test('a cut that did not lower the latency moves the baseline instead: the hosts got slower, not the queue longer', () => {
    const l = new AdaptiveLimit({ initial: 8, max: 100 });
    feed(l, 8, () => ok(100, 0)); // → 16
    feed(l, 16, () => ok(200, 1000)); // → 9
    assert.equal(l.current, 9);
    const next = feed(l, 9, () => ok(200, 2000));
    assert.equal(l.baselineMs, 200);
    assert.deepEqual(
      next.map((c) => c.to),
      [12],
      'learns the new baseline and grows from it',
    );
  });

  test('drops and timeouts: beside fast peers they change nothing; many cut by 30 %', () => {
    const fail = (outcome: Sample['outcome']): Sample => ({ ...ok(5000, 0), outcome });
    // a third black holes among fast hosts: growth goes on
    const holes = new AdaptiveLimit({ initial: 9, max: 100 });
    const grew = feed(holes, 9, (i) => (i % 3 === 2 ? fail('timeout') : ok(100)));
    assert.deepEqual(
      grew.map((c) => c.to),
      [18],
    );
    // two thirds of a round time out
    const most = new AdaptiveLimit({ initial: 9 });
    const cut = feed(most, 9, (i) => (i < 6 ? fail('timeout') : ok(100)));
    assert.deepEqual(
      cut.map((c) => [c.from, c.to]),
      [[9, 6]],
    );
    assert.match(cut[0]!.reason, /6 of 9 hosts dropped or timed out in one round/);
    // a quarter of a round had its connection dropped (sshd past MaxStartups, a server shedding load)
    const hungUp = new AdaptiveLimit({ initial: 8 });
    const drops = feed(hungUp, 8, (i) => (i < 2 ? fail('dropped') : ok(100)));
    assert.deepEqual(
      drops.map((c) => [c.from, c.to]),
      [[8, 5]],
    );
    assert.match(drops[0]!.reason, /2 of 8 hosts had their connection dropped/);
    // a timeout while the others slow down: the latency decides (16 × 100 × 1.125 / 300)
    const slowing = new AdaptiveLimit({ initial: 8, max: 100 });
    feed(slowing, 8, () => ok(100, 0)); // → 16
    const both = feed(slowing, 16, (i) =>
      i === 0 ? { ...fail('timeout'), startedAt: 1000 } : ok(300, 1000),
    );
    assert.deepEqual(
      both.map((c) => [c.from, c.to]),
      [[16, 8]],
    );
    assert.match(both[0]!.reason, /latency 300 ms/);
    // nothing decided while no host waits: the black holes reporting last in a fleet
    const tail = new AdaptiveLimit({ initial: 8 });
    assert.deepEqual(
      feed(tail, 16, () => ({ ...fail('timeout'), full: false })),
      [],
    );
    // refused, authentication, exit codes: nothing about load
    const failed = new AdaptiveLimit({ initial: 8 });
    assert.deepEqual(
      feed(failed, 16, () => fail('failed')),
      [],
    );
  });

  test('slowMs: a round slower than it is queueing whatever the baseline', () => {
    const l = new AdaptiveLimit({ initial: 8, slowMs: 150 });
    assert.equal(feed(l, 8, () => ok(200, 0))[0]!.to, 6); // 8 × 150 / 200
  });
});

/** A seeded generator: the same fleet every run. */
function random(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

interface Model {
  hosts: number;
  capacity: number;
  baseMs: number;
  /** Each host's work is base × (1 ± jitter). */
  jitter: number;
  /** Past capacity the resource slows by this much per host over it (a database's lock contention). */
  contention: number;
}

/** Runs a simulated fleet through a limit; returns the wall time and the limit after each host. */
function simulate(limit: Limit, m: Model) {
  const rand = random(7);
  let queue = m.hosts;
  let t = 0;
  const jobs: { left: number; startedAt: number }[] = [];
  const limits: number[] = [];
  const rate = (n: number) => Math.min(1, m.capacity / n) / (1 + m.contention * Math.max(0, n - m.capacity));
  while (queue > 0 || jobs.length > 0) {
    while (queue > 0 && jobs.length < limit.current) {
      queue--;
      jobs.push({ left: m.baseMs * (1 - m.jitter + 2 * m.jitter * rand()), startedAt: t });
    }
    const r = rate(jobs.length);
    const next = Math.min(...jobs.map((j) => j.left));
    t += next / r;
    for (const j of jobs) j.left -= next;
    for (const j of jobs.filter((j) => j.left <= 1e-9)) {
      jobs.splice(jobs.indexOf(j), 1);
      limit.observe({ outcome: 'ok', durationMs: t - j.startedAt, startedAt: j.startedAt, full: queue > 0 });
      limits.push(limit.current);
    }
  }
  return { wallMs: t, limits };
}

function bestFixed(m: Model) {
  let best = { width: 0, wallMs: Infinity };
  for (let width = 1; width <= 4 * m.capacity; width++) {
    const { wallMs } = simulate(new FixedLimit(width), m);
    if (wallMs < best.wallMs) best = { width, wallMs };
  }
  return best;
}

describe('adaptive limit in a simulated limited fleet', () => {
  // Deterministic: the figures are exact for this rule (docs/fleet.md lists them).
  const models: (Model & { initial: number; ratio: number })[] = [
    { hosts: 200, capacity: 8, baseMs: 400, jitter: 0.2, contention: 0.02, initial: 8, ratio: 0.9 },
    { hosts: 400, capacity: 12, baseMs: 500, jitter: 0.2, contention: 0.02, initial: 8, ratio: 0.9 },
    { hosts: 400, capacity: 4, baseMs: 300, jitter: 0.3, contention: 0.05, initial: 2, ratio: 0.9 },
    { hosts: 200, capacity: 8, baseMs: 400, jitter: 0.2, contention: 0, initial: 8, ratio: 0.9 },
    // a wide knee costs more rounds to find: 1,000 hosts are 25 of them
    { hosts: 1000, capacity: 40, baseMs: 1000, jitter: 0.2, contention: 0.01, initial: 8, ratio: 0.85 },
  ];
  for (const m of models)
    test(`capacity ${m.capacity}, contention ${m.contention}, from ${m.initial}: near the best fixed width, ≥ ${m.ratio * 100} % of its throughput`, () => {
      const best = bestFixed(m);
      const { wallMs, limits } = simulate(new AdaptiveLimit({ initial: m.initial }), m);
      const late = limits.slice(limits.length / 2, (limits.length * 9) / 10);
      const detail = `best fixed ${best.width} in ${Math.round(best.wallMs)} ms, adaptive ${Math.round(wallMs)} ms, limits ${[...new Set(late)].join(' ')}`;
      assert.ok(best.wallMs / wallMs >= m.ratio, detail);
      // without contention every width past the knee is as fast: near means not below it
      const knee = m.contention > 0 ? best.width : m.capacity;
      assert.ok(
        late.every((w) => w >= knee / 2 && w <= knee * 2),
        detail,
      );
    });
});
