// The run journal's cost on a large run, against a harness fleet of real sshd:
//
//   1. N hosts (default 1,000), one trivial command each, window W (default 64): `fleet(...).run`
//      without a journal and with one, runs interleaved (each with a fresh connection pool, so no
//      run reuses another's connections). Wall time and controller CPU per run; the target
//      is journal/none ≤ 1.05 in wall time.
//   2. The journal's own work, alone: the rows of N hosts written as a run writes them (pending,
//      running, result with its output and attempt), each on its own commit, timed: the least
//      that a journal adds to a run of N hosts, whatever the machine's load.
//
//   node --import tsx bench/journal-overhead.ts [N=1000] [runs=3] [W=64]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleet } from '../src/index.js';
import { sshConnect } from '../src/fleet/connect.js';
import { skippedResult } from '../src/fleet/host-result.js';
import { openJournal } from '../src/journal/journal.js';
import { startFleet } from '../test/harness/fleet.js';
import { sshFor } from '../test/ssh/helpers.js';

const N = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.argv[3] ?? 3);
const WIDTH = Number(process.argv[4] ?? 64);

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const least = (xs: number[]) => Math.min(...xs);

const scratch = mkdtempSync(join(tmpdir(), 'fleetsh-bench-journal-'));
const testFleet = await startFleet({ healthy: N });
try {
  // A generous connect timeout: the hosts' sshd share this machine's CPUs with the controller.
  const targets = testFleet.healthy.map((h) => ({
    host: h.name,
    sshConfig: testFleet.sshConfigPath,
    connectTimeout: '30s',
  }));
  const journalPath = join(scratch, 'journal.db');
  const results: Record<'none' | 'journal', { wall: number; cpu: number }[]> = { none: [], journal: [] };

  async function once(mode: 'none' | 'journal') {
    const ssh = sshFor(testFleet);
    try {
      const c0 = cpuMs();
      const t0 = performance.now();
      const report = await fleet(targets, {
        connect: sshConnect(ssh),
        concurrency: WIDTH,
        ...(mode === 'journal' ? { journal: journalPath } : {}),
      }).run`echo "$SSH_CONNECTION"`;
      const wall = performance.now() - t0;
      const cpu = cpuMs() - c0;
      if (report.counts.ok !== N)
        throw new Error(`${mode}: ${report.counts.ok}/${N} ok:\n${report.toText()}`);
      results[mode].push({ wall, cpu });
      console.log(`# ${mode.padEnd(7)} wall ${Math.round(wall)} ms, controller CPU ${Math.round(cpu)} ms`);
    } finally {
      await ssh.close();
    }
  }

  await once('none'); // warm-up: sshd's first logins, the page cache
  results.none.length = 0;
  for (let r = 0; r < RUNS; r++) {
    // Alternate the order so a trend in the machine's load falls on both sides.
    for (const mode of r % 2 === 0 ? (['none', 'journal'] as const) : (['journal', 'none'] as const))
      await once(mode);
  }
  const journal = openJournal(journalPath);
  const recorded = journal.runs(RUNS);
  if (recorded.length !== RUNS || recorded.some((s) => s.counts.total !== N || s.state !== 'ended'))
    throw new Error('the journal did not record every host of every run');
  journal.close();

  const wallNone = median(results.none.map((x) => x.wall));
  const wallJournal = median(results.journal.map((x) => x.wall));
  // Each pair's ratio (with and without, run one after the other): a trend in the machine's load
  // over the bench cancels out within a pair better than across the medians.
  const pairs = results.journal.map((j, i) => j.wall / results.none[i]!.wall);
  // The least of each: the run least disturbed by the machine's other work.
  const bestNone = least(results.none.map((x) => x.wall));
  const bestJournal = least(results.journal.map((x) => x.wall));
  const cpuNone = median(results.none.map((x) => x.cpu));
  const cpuJournal = median(results.journal.map((x) => x.cpu));

  // 2. The journal's writes alone, for N hosts, each write committed on its own as in a run.
  const alone = openJournal(join(scratch, 'alone.db'));
  const output = 'x'.repeat(40) + '\n';
  const t0 = performance.now();
  const writer = alone.startRun({
    kind: 'fleet',
    label: 'bench',
    hosts: targets.map((t) => ({ name: t.host })),
    options: {},
  });
  for (const t of targets) {
    const result = {
      ...skippedResult(t.host, 0, 'cancelled', ''),
      status: 'ok' as const,
      success: true,
      kind: null,
      reason: null,
      stdout: output,
      stderr: '',
      exitCode: 0,
      attempts: [
        { attempt: 1, status: 'ok' as const, kind: null, error: null, durationMs: 100, retryInMs: null },
      ],
    };
    writer.hostEnd(result); // one UPDATE and one INSERT; a run adds the 'running' UPDATE below
  }
  const writesMs = performance.now() - t0;
  alone.close();

  console.log(`journal overhead, ${N} hosts, window ${WIDTH}, median of ${RUNS} interleaved runs:`);
  console.log(
    `  wall: ${Math.round(wallNone)} ms without, ${Math.round(wallJournal)} ms with: ratio ${(wallJournal / wallNone).toFixed(3)}`,
  );
  console.log(
    `  wall, pair by pair: ${pairs.map((r) => r.toFixed(3)).join(', ')}: median ${median(pairs).toFixed(3)}`,
  );
  console.log(
    `  wall, least of each: ${Math.round(bestNone)} ms without, ${Math.round(bestJournal)} ms with: ratio ${(bestJournal / bestNone).toFixed(3)}`,
  );
  console.log(
    `  controller CPU: ${Math.round(cpuNone)} ms without, ${Math.round(cpuJournal)} ms with: ratio ${(cpuJournal / cpuNone).toFixed(3)}`,
  );
  console.log(
    `  the journal's writes alone (run, ${N} pending rows, ${N} results with attempts): ${Math.round(writesMs)} ms, ` +
      `${((writesMs / wallNone) * 100).toFixed(1)} % of the run's wall time without a journal`,
  );
} finally {
  await testFleet.stop();
  rmSync(scratch, { recursive: true, force: true });
}
