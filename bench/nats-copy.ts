// A copy through fleetsh workers against a direct copy, on a harness fleet of real sshd and a real
// nats-server:
//
//   one file of S MiB (default 16) to N hosts (default 16), window W (default 16), run
//   1. directly: this process uploads to every host over SFTP;
//   2. through K `fleetsh worker` processes (default 2): this process stores the file once on the
//      NATS files stream, each worker reads it once and uploads it to its hosts.
//   Runs alternate so a trend in the machine's load falls on both. Per run: wall time, this
//   process's CPU, the workers' CPU (from /proc), and the bytes through nats-server (its /varz):
//   with K workers about (1 + K) × S of file bytes (stored once, read once per worker), whatever N.
//
//   npm run build && node --import tsx bench/nats-copy.ts [S=16] [N=16] [runs=3] [W=16] [K=2]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleet } from '../src/index.js';
import { sshConnect } from '../src/fleet/connect.js';
import { natsConnect } from '../src/scale-out/coordinator.js';
import { startFleet } from '../test/harness/fleet.js';
import { startNats } from '../test/harness/nats.js';
import { CLI } from '../test/cli/helpers.js';
import { sshFor } from '../test/ssh/helpers.js';

const SIZE = Number(process.argv[2] ?? 16) * 1024 * 1024;
const N = Number(process.argv[3] ?? 16);
const RUNS = Number(process.argv[4] ?? 3);
const WIDTH = Number(process.argv[5] ?? 16);
const WORKERS = Number(process.argv[6] ?? 2);

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const procCpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const work = await mkdtemp(join(tmpdir(), 'fleetsh-bench-nats-copy-'));
const src = join(work, 'payload.bin');
await writeFile(src, randomBytes(SIZE));
const [testFleet, nats] = await Promise.all([startFleet({ healthy: N }), startNats({ monitor: true })]);
const workers: ChildProcess[] = [];
try {
  const varz = async () =>
    (await (await fetch(`${nats.monitorUrl}/varz`)).json()) as { in_bytes: number; out_bytes: number };
  for (let i = 0; i < WORKERS; i++) {
    const child = spawn(
      process.execPath,
      [CLI, 'worker', '--nats', nats.url, '--concurrency', String(Math.ceil(WIDTH / WORKERS))],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    workers.push(child);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/ ready: zone /.test(err)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
    });
  }
  const targets = testFleet.healthy.map((h) => ({
    host: h.name,
    sshConfig: testFleet.sshConfigPath,
    connectTimeout: '60s',
  }));
  type Sample = { wall: number; cpu: number; workerCpu: number; bytes: number };
  const results: Record<'direct' | 'nats', Sample[]> = { direct: [], nats: [] };

  async function once(mode: 'direct' | 'nats', run: number, keep = true) {
    const ssh = sshFor(testFleet);
    try {
      const v0 = await varz();
      const w0 = workers.reduce((a, w) => a + procCpuMs(w.pid!), 0);
      const c0 = cpuMs();
      const t0 = performance.now();
      const report = await fleet(targets, {
        connect: mode === 'direct' ? sshConnect(ssh) : natsConnect({ servers: nats.url, workerWait: '30s' }),
        concurrency: WIDTH,
      }).upload(src, join(work, `dest-${mode}-${run}`, 'payload.bin'));
      const wall = performance.now() - t0;
      const cpu = cpuMs() - c0;
      await new Promise((r) => setTimeout(r, 500)); // the coordinator's idle close and purge
      const workerCpu = workers.reduce((a, w) => a + procCpuMs(w.pid!), 0) - w0;
      const v1 = await varz();
      if (report.counts.ok !== N)
        throw new Error(`${mode}: ${report.counts.ok}/${N} ok:\n${report.toText()}`);
      const bytes = v1.in_bytes - v0.in_bytes + (v1.out_bytes - v0.out_bytes);
      if (keep) results[mode].push({ wall, cpu, workerCpu, bytes });
      console.log(
        `# ${mode.padEnd(6)} wall ${Math.round(wall)} ms, this process ${Math.round(cpu)} ms CPU, ` +
          `workers ${Math.round(workerCpu)} ms CPU, NATS ${(bytes / 1048576).toFixed(1)} MiB (load ${loadavg()[0]!.toFixed(1)})`,
      );
    } finally {
      await ssh.close();
    }
  }

  await once('direct', -1, false);
  await once('nats', -1, false);
  for (let r = 0; r < RUNS; r++)
    for (const mode of r % 2 === 0 ? (['direct', 'nats'] as const) : (['nats', 'direct'] as const))
      await once(mode, r);

  const m = (mode: 'direct' | 'nats', k: keyof Sample) => median(results[mode].map((x) => x[k]));
  console.log(
    `copy of ${SIZE / 1048576} MiB to ${N} hosts, window ${WIDTH}, ${WORKERS} workers, median of ${RUNS} ` +
      `interleaved runs (${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}):`,
  );
  console.log(
    `  wall: ${Math.round(m('direct', 'wall'))} ms direct, ${Math.round(m('nats', 'wall'))} ms through workers: ` +
      `ratio ${(m('nats', 'wall') / m('direct', 'wall')).toFixed(2)}`,
  );
  console.log(
    `  CPU: ${Math.round(m('direct', 'cpu'))} ms direct; coordinator ${Math.round(m('nats', 'cpu'))} ms and ` +
      `workers ${Math.round(m('nats', 'workerCpu'))} ms through workers`,
  );
  console.log(
    `  NATS: ${(m('nats', 'bytes') / 1048576).toFixed(1)} MiB in + out at the server ` +
      `(${(m('nats', 'bytes') / SIZE).toFixed(2)} × the file)`,
  );
} finally {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(
    workers.map((w) => (w.exitCode !== null ? undefined : new Promise((r) => w.once('exit', r)))),
  );
  await Promise.all([testFleet.stop(), nats.stop()]);
  await rm(work, { recursive: true, force: true });
}
