import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { AdaptiveLimit } from '../../src/fleet/adaptive.js';
import { FixedLimit, makeLimit, Window } from '../../src/fleet/scheduler.js';
import { fakeFleet, makeDirs, names, type FakeFleet } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('window', () => {
  test('never runs more than the limit, starts the next item as soon as one ends', async () => {
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const items = Array.from({ length: 30 }, (_, i) => i);
    const w = new Window(items, new FixedLimit(4), async (i) => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await sleep(i % 3 === 0 ? 30 : 5);
      running--;
    });
    w.pump();
    await w.done;
    assert.equal(peak, 4);
    assert.equal(w.peak, 4);
    assert.equal(order.length, 30);
  });

  test('an empty window is done at once; stop returns the items never started', async () => {
    const empty = new Window<number>([], new FixedLimit(2), async () => {});
    empty.pump();
    await empty.done;
    const w = new Window([1, 2, 3, 4], new FixedLimit(1), async () => void (await sleep(20)));
    w.pump();
    assert.deepEqual(w.stop(), [2, 3, 4]);
    await w.done;
  });

  test('makeLimit reads the option', () => {
    assert.equal(makeLimit(undefined).current, 32);
    assert.equal(makeLimit(5).current, 5);
    assert.ok(makeLimit('adaptive') instanceof AdaptiveLimit);
    assert.equal(makeLimit({ initial: 3, min: 2, max: 9 }).current, 3);
    assert.throws(() => makeLimit({ initial: 30, max: 9 }), /option concurrency/);
  });
});

describe('adaptive concurrency in a run', () => {
  let f: FakeFleet;
  const hosts = names('h', 60);
  before(async () => {
    const faults: Record<string, any> = {};
    for (const h of hosts.slice(10))
      if (Number(h.slice(1)) % 5 !== 0)
        faults[h] = { unreachable: { kind: 'connect-timeout', delayMs: 300 } };
    f = await fakeFleet(faults);
    await makeDirs(f, hosts);
  });
  after(() => f.cleanup());

  // four in five hosts after the tenth time out: no longer a few black holes but the path to them
  test('grows on healthy hosts and shrinks when most of a round times out; changes are events', async () => {
    const run = fleet(hosts, { connect: f.connect, concurrency: { initial: 4, min: 2, max: 16 } }).run`true`;
    const changes: { from: number; to: number; reason: string }[] = [];
    run.on('concurrency:change', (c) => changes.push(c));
    const report = await run;
    assert.equal(report.counts.total, 60);
    assert.ok(
      changes.some((c) => c.to > c.from),
      `grew: ${JSON.stringify(changes)}`,
    );
    // (latency cuts may come first: this machine's load makes `true` take 20 to 80 ms)
    const shrink = changes.find(
      (c) => c.to < c.from && /hosts dropped or timed out in one round/.test(c.reason),
    );
    assert.ok(shrink, `shrank on the timeouts: ${JSON.stringify(changes)}`);
    assert.ok(report.peakConcurrency <= 16);
  });
});

describe('adaptive concurrency against black holes (the issue: 24 hosts, a third black holes, from 4)', () => {
  let f: FakeFleet;
  const hosts = names('b', 24);
  const holes = hosts.filter((_, i) => i % 3 === 2);
  before(async () => {
    const faults: Record<string, any> = {};
    for (const h of holes) faults[h] = { unreachable: { kind: 'connect-timeout', delayMs: 1500 } };
    f = await fakeFleet(faults);
    await makeDirs(f, hosts);
  });
  after(() => f.cleanup());

  test('grows only on hosts that finished at the current limit, and black holes beside fast peers do not shrink it', async () => {
    const run = fleet(hosts, { connect: f.connect, concurrency: { initial: 4, min: 1, max: 16 } })
      .run`sleep 0.2`;
    // Which limit each host started under (the number of changes before its start), and how many
    // hosts had ended, and how many of those had started at the current limit, at each change.
    let epoch = 0;
    let ended = 0;
    let endedAtLimit = 0;
    const startedIn = new Map<string, number>();
    const changes: { from: number; to: number; reason: string; ended: number; atLimit: number }[] = [];
    run.on('server:start', (e) => startedIn.set(e.server, epoch));
    const end = (server: string) => (ended++, startedIn.get(server) === epoch && endedAtLimit++);
    run.on('server:success', (e) => end(e.server));
    run.on('server:error', (e) => end(e.server));
    run.on('concurrency:change', (c) => {
      // the host whose result caused the change is reported just after it
      changes.push({ ...c, ended: ended + 1, atLimit: endedAtLimit + 1 });
      epoch++;
      ended = endedAtLimit = 0;
    });
    const report = await run;
    assert.equal(report.counts.total, 24);
    assert.equal(report.counts.ok, 16);
    assert.equal(report.counts.unreachable, 8);
    const detail = JSON.stringify(changes);
    // a round: `from` hosts ended since the last change, mostly started at `from` (slow failures of
    // hosts started earlier count too, or they would never count)
    for (const c of changes.filter((c) => c.to > c.from)) {
      assert.ok(c.ended >= c.from, `an increase before ${c.from} hosts ended at ${c.from}: ${detail}`);
      assert.ok(c.atLimit >= c.from / 2, `an increase on hosts started under another limit: ${detail}`);
    }
    assert.deepEqual([changes[0]?.from, changes[0]?.to], [4, 8], `doubled after its first round: ${detail}`);
    // (a latency cut may come from this machine's load; the black holes must not cause one)
    assert.ok(
      !changes.some((c) => c.to < c.from && /dropped or timed out/.test(c.reason)),
      `black holes among fast hosts shrank the limit: ${detail}`,
    );
  });
});

describe('slow connections give their slot back', () => {
  let f: FakeFleet;
  const healthy = names('ok', 16);
  const holes = names('hole', 4);
  before(async () => {
    const faults: Record<string, any> = { slowpoke: { connectDelayMs: 300 } };
    for (const h of holes) faults[h] = { unreachable: { kind: 'connect-timeout', delayMs: 2500 } };
    f = await fakeFleet(faults);
    await makeDirs(f, [...healthy, ...holes, 'slowpoke']);
  });
  after(() => f.cleanup());

  test('black holes do not hold the window: healthy hosts run meanwhile, never more than the limit at once', async () => {
    const { readFile } = await import('node:fs/promises');
    const log = `${f.root}/park.log`;
    // the black holes come first; how many healthy hosts finished before the first black hole gave up?
    const run = async (slowConnect: number | false) => {
      const r = fleet([...holes, ...healthy], { connect: f.connect, concurrency: 4, slowConnect })
        .run`echo +$HOST >> ${log}; sleep 0.1; echo -$HOST >> ${log}`;
      let okBefore = -1;
      let ok = 0;
      r.on('server:success', () => ok++);
      r.on('server:error', () => (okBefore = okBefore < 0 ? ok : okBefore));
      return { report: await r, okBefore };
    };
    const { report: parked, okBefore: whileParked } = await run(100);
    const { okBefore: whileHeld } = await run(false);
    assert.equal(parked.counts.unreachable, 4);
    assert.equal(parked.counts.ok, 16);
    assert.ok(whileParked >= 12, `healthy hosts ran while black holes connected: ${whileParked}`);
    assert.equal(whileHeld, 0, 'without slowConnect, black holes hold every slot');
    let now = 0;
    let max = 0;
    for (const l of (await readFile(log, 'utf8')).trim().split('\n'))
      max = Math.max(max, (now += l.startsWith('+') ? 1 : -1));
    assert.ok(max <= 4, `at most 4 commands at once, saw ${max}`);
    assert.equal(parked.byStatus('unreachable')[0]!.kind, 'connect-timeout');
  });

  test('a slow but healthy host comes back into the window once connected, in one attempt', async () => {
    const run = fleet(['slowpoke', ...healthy.slice(0, 3)], {
      connect: f.connect,
      concurrency: 1,
      slowConnect: 50,
    }).run`echo $HOST`;
    const starts: string[] = [];
    const order: string[] = [];
    run.on('server:start', (e) => starts.push(e.server));
    run.on('server:success', (e) => order.push(e.server));
    const report = await run;
    assert.equal(report.counts.ok, 4);
    assert.equal(starts.filter((s) => s === 'slowpoke').length, 1);
    assert.equal(report.hosts[0]!.attempts.length, 1);
    assert.ok(report.hosts[0]!.durationMs >= 300);
    assert.notEqual(order[0], 'slowpoke', 'others ran while it connected');
  });
});
