// Adaptive concurrency against the best fixed width, on a limited fleet of real sshd: N harness
// hosts whose command takes its turn at one shared resource (test/harness/capacity.ts: CAPACITY
// jobs at full speed, base × N / CAPACITY each past that, CONTENTION slower per job over it). Sweeps
// fixed widths, runs `concurrency: 'adaptive'` (initial 8) and { initial: 2 }, interleaved, RUNS
// times each, cold connections every run; prints each mode's median wall time, throughput, where
// the adaptive limit settled, and adaptive/best-fixed throughput (the target: ≥ 0.9).
//
//   node --import tsx bench/adaptive.ts [N=192] [capacity=12] [baseMs=300] [contention=0.03] [runs=5] [widths=8,12,16,24,32]
import { $ } from '../src/index.js';
import type { ConcurrencyOption } from '../src/fleet/scheduler.js';
import { startCapacity } from '../test/harness/capacity.js';
import { startFleet } from '../test/harness/fleet.js';
import { loadavg } from 'node:os';

const N = Number(process.argv[2] ?? 192);
const CAPACITY = Number(process.argv[3] ?? 12);
const BASE_MS = Number(process.argv[4] ?? 300);
const CONTENTION = Number(process.argv[5] ?? 0.03);
const RUNS = Number(process.argv[6] ?? 5);
const WIDTHS = (process.argv[7] ?? '8,12,16,24,32').split(',').map(Number);

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

const tf = await startFleet({ healthy: N });
const cap = await startCapacity({ capacity: CAPACITY, baseMs: BASE_MS, contention: CONTENTION });
const sshConfig = tf.sshConfigPath;
const targets = tf.healthy.map((h) => ({ host: h.name, sshConfig }));

async function once(concurrency: ConcurrencyOption, hosts = targets) {
  cap.served.length = 0;
  const run = $.fleet(hosts, { concurrency, connectTimeout: 30_000 }).run`${$.raw(cap.command)}`;
  const limits: number[] = [];
  const changes: number[] = [];
  run.on('server:success', () => limits.push(run.concurrency));
  run.on('concurrency:change', (c) => changes.push(c.to));
  const t0 = performance.now();
  const report = await run;
  const wall = performance.now() - t0;
  await $.close(); // cold connections every run
  if (report.counts.ok !== hosts.length || new Set(cap.served).size !== hosts.length)
    throw new Error(`lost hosts at ${JSON.stringify(concurrency)}: ${report.counts.ok}/${hosts.length} ok`);
  return { wall, settled: median(limits.slice(limits.length / 2)), peak: report.peakConcurrency, changes };
}

const modes: [string, ConcurrencyOption][] = [
  ...WIDTHS.map((w): [string, ConcurrencyOption] => [`fixed ${w}`, w]),
  ["'adaptive'", 'adaptive'],
  ['{ initial: 2 }', { initial: 2 }],
];
const results = new Map<string, Awaited<ReturnType<typeof once>>[]>();
try {
  console.log(
    `${N} hosts, capacity ${CAPACITY}, base ${BASE_MS} ms, contention ${CONTENTION}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await once(4, targets.slice(0, 8)); // load modules and JIT before measuring
  for (let i = 0; i < RUNS; i++)
    for (const [name, c] of modes) {
      const r = await once(c);
      results.set(name, [...(results.get(name) ?? []), r]);
      const path = r.changes.length > 0 ? `, limits ${r.changes.join(' ')}` : '';
      console.log(
        `run ${i + 1} ${name}: ${r.wall.toFixed(0)} ms, settled ${r.settled}, peak ${r.peak}${path}`,
      );
    }
  const wall = (name: string) => median(results.get(name)!.map((r) => r.wall));
  const best = WIDTHS.map((w) => `fixed ${w}`).reduce((a, b) => (wall(b) < wall(a) ? b : a));
  console.log(
    `median of ${RUNS}; load average now ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  for (const [name] of modes) {
    const rs = results.get(name)!;
    const settled = name.startsWith('fixed') ? '' : `, settled at ${median(rs.map((r) => r.settled))}`;
    console.log(
      `  ${name.padEnd(16)} ${wall(name).toFixed(0).padStart(6)} ms  ${((N / wall(name)) * 1000).toFixed(1).padStart(5)} hosts/s` +
        `  ${(wall(best) / wall(name)).toFixed(2)} of ${best}${settled}`,
    );
  }
} finally {
  await cap.close();
  await tf.stop();
}
