// Scale-out's cost, against a harness fleet of real sshd and a real nats-server:
//
//   N hosts (default 1,000), one trivial command each, a window of W (default 64), run
//   1. directly: this process is the controller and makes every SSH connection;
//   2. through K `fleetsh worker` processes (default 2, each with W/K slots): this process is the
//      coordinator only, the workers make the connections.
//   Runs alternate (direct, nats, nats, direct, ...) so a trend in the machine's load falls on
//   both. Per run: wall time, this process's CPU (the controller's or the coordinator's), the
//   workers' CPU (from /proc), and the messages and bytes through nats-server (its /varz, before
//   and after), each per host. The coordinator's CPU per host and the messages per host are what
//   docs/scale-out.md's estimate for 100,000 hosts over 50 workers rests on.
//
//   npm run build && node --import tsx bench/scale-out.ts [N=1000] [runs=2] [W=64] [K=2]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fleet } from '../src/index.js';
import { sshConnect } from '../src/fleet/connect.js';
import { natsConnect } from '../src/scale-out/coordinator.js';
import { startFleet } from '../test/harness/fleet.js';
import { startNats } from '../test/harness/nats.js';
import { CLI } from '../test/cli/helpers.js';
import { sshFor } from '../test/ssh/helpers.js';

const N = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.argv[3] ?? 2);
const WIDTH = Number(process.argv[4] ?? 64);
const WORKERS = Number(process.argv[5] ?? 2);

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** A process's CPU so far (user + system), from /proc, in ms (clock ticks of 10 ms). */
const procCpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const [testFleet, nats] = await Promise.all([startFleet({ healthy: N }), startNats({ monitor: true })]);
const workers: ChildProcess[] = [];
try {
  const varz = async () =>
    (await (await fetch(`${nats.monitorUrl}/varz`)).json()) as {
      in_msgs: number;
      out_msgs: number;
      in_bytes: number;
      out_bytes: number;
    };
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
  // A generous connect timeout: the hosts' sshd share this machine's CPUs with everything else.
  const targets = testFleet.healthy.map((h) => ({
    host: h.name,
    sshConfig: testFleet.sshConfigPath,
    connectTimeout: '60s',
  }));
  type Sample = { wall: number; cpu: number; workerCpu: number; msgs: number; bytes: number };
  const results: Record<'direct' | 'nats', Sample[]> = { direct: [], nats: [] };

  async function once(mode: 'direct' | 'nats', keep = true) {
    const ssh = sshFor(testFleet);
    try {
      const v0 = await varz();
      const w0 = workers.reduce((a, w) => a + procCpuMs(w.pid!), 0);
      const c0 = cpuMs();
      const t0 = performance.now();
      const report = await fleet(targets, {
        connect: mode === 'direct' ? sshConnect(ssh) : natsConnect({ servers: nats.url, workerWait: '30s' }),
        concurrency: WIDTH,
      }).run`echo "$SSH_CONNECTION"`;
      const wall = performance.now() - t0;
      const cpu = cpuMs() - c0;
      await new Promise((r) => setTimeout(r, 500)); // the coordinator's idle close, the workers' acks
      const workerCpu = workers.reduce((a, w) => a + procCpuMs(w.pid!), 0) - w0;
      const v1 = await varz();
      if (report.counts.ok !== N)
        throw new Error(`${mode}: ${report.counts.ok}/${N} ok:\n${report.toText()}`);
      const msgs = v1.in_msgs - v0.in_msgs + (v1.out_msgs - v0.out_msgs);
      const bytes = v1.in_bytes - v0.in_bytes + (v1.out_bytes - v0.out_bytes);
      const sample = { wall, cpu, workerCpu, msgs, bytes };
      if (keep) results[mode].push(sample);
      console.log(
        `# ${mode.padEnd(6)} wall ${Math.round(wall)} ms, this process ${Math.round(cpu)} ms CPU, ` +
          `workers ${Math.round(workerCpu)} ms CPU, NATS ${msgs} messages, ${bytes} bytes (load ${loadavg()[0]!.toFixed(1)})`,
      );
    } finally {
      await ssh.close();
    }
  }

  await once('direct', false); // warm-up: sshd's first logins, the page cache
  await once('nats', false);
  for (let r = 0; r < RUNS; r++)
    for (const mode of r % 2 === 0 ? (['direct', 'nats'] as const) : (['nats', 'direct'] as const))
      await once(mode);

  const m = (mode: 'direct' | 'nats', k: keyof Sample) => median(results[mode].map((x) => x[k]));
  console.log(
    `scale-out, ${N} hosts, window ${WIDTH}, ${WORKERS} workers, median of ${RUNS} interleaved runs ` +
      `(${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}):`,
  );
  console.log(
    `  wall: ${Math.round(m('direct', 'wall'))} ms direct, ${Math.round(m('nats', 'wall'))} ms through workers: ` +
      `ratio ${(m('nats', 'wall') / m('direct', 'wall')).toFixed(2)}`,
  );
  console.log(
    `  CPU per host: controller ${(m('direct', 'cpu') / N).toFixed(2)} ms direct; coordinator ` +
      `${(m('nats', 'cpu') / N).toFixed(2)} ms and workers ${(m('nats', 'workerCpu') / N).toFixed(2)} ms through workers`,
  );
  console.log(
    `  NATS per host: ${(m('nats', 'msgs') / N).toFixed(1)} messages (in + out at the server), ` +
      `${Math.round(m('nats', 'bytes') / N)} bytes`,
  );
} finally {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(
    workers.map((w) => (w.exitCode !== null ? undefined : new Promise((r) => w.once('exit', r)))),
  );
  await Promise.all([testFleet.stop(), nats.stop()]);
}
