// Benchmark: warm connections across CLI invocations. 10 × `fleetsh run -- true` on N harness hosts,
// one CLI process after another, in one run:
//   - fleetsh, direct (--no-agent): each run makes its connections;
//   - fleetsh through the agent: a first unmeasured run starts it and opens its connections;
//   - pdsh, clush and pssh through ssh ControlMaster/ControlPersist (masters opened by an unmeasured
//     first run), the peers' own way of keeping connections between invocations.
// Wall time and CPU (the CLIs' process trees, plus the agent's or the ssh masters' own CPU over the
// same runs), the median of --reps rounds with the tools interleaved; ratios against the best peer.
//
// `--case copy`: the same with a 1 MiB file copied to every host (`fleetsh copy`, clush --copy and
// parallel-scp through ControlMaster; pdsh has no copy without pdsh on the hosts).
//
//   npm run build && npx tsx bench/agent-warm.ts [--hosts 30] [--runs 10] [--reps 3] [--fanout 32]
//                                                [--case run|copy]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFleet } from '../test/harness/fleet.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const HOSTS = arg('hosts', 30);
const RUNS = arg('runs', 10);
const REPS = arg('reps', 3);
const FANOUT = arg('fanout', 32);
const CASE = process.argv.includes('--case') ? process.argv[process.argv.indexOf('--case') + 1]! : 'run';
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'bin.cjs');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const which = (name: string) => spawnSync('which', [name], { encoding: 'utf8' }).stdout.trim() || undefined;

/** utime+stime (ms) of live processes whose command line holds `marker` (the agent, ssh masters). */
function markedCpuMs(marker: string): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile
    }
  }
  return (ticks * 1000) / CLK_TCK;
}
function markedPids(marker: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}
/** cutime+cstime (ms) of this process: the children it waited for. */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
}

interface Cmd {
  file: string;
  args: string[];
  env?: Record<string, string>;
}
function run(cmd: Cmd): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.file, cmd.args, {
      env: { ...process.env, ...cmd.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd.file} ${cmd.args.slice(0, 3).join(' ')}: exit ${code}\n${err}`)),
    );
  });
}

interface Sample {
  wallMs: number;
  cpuMs: number;
}
/** RUNS runs one after another: wall, and the CPU of the runs plus of the long-lived helper processes. */
async function series(cmd: Cmd, helperMarker?: string): Promise<Sample> {
  const c0 = childrenCpuMs();
  const h0 = helperMarker ? markedCpuMs(helperMarker) : 0;
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) await run(cmd);
  const wallMs = performance.now() - t0;
  return { wallMs, cpuMs: childrenCpuMs() - c0 + (helperMarker ? markedCpuMs(helperMarker) - h0 : 0) };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const scratch = mkdtempSync(join(tmpdir(), 'fleetsh-agent-bench-'));
const runtime = join(scratch, 'runtime');
mkdirSync(runtime, { mode: 0o700 });
chmodSync(runtime, 0o700);
process.stderr.write(`starting ${HOSTS} harness hosts...\n`);
const fleet = await startFleet({ healthy: HOSTS });
const load0 = loadavg();
const cmDir = join(scratch, 'cm');
mkdirSync(cmDir);
try {
  const hosts = fleet.healthy.map((h) => h.name);
  const base = readFileSync(fleet.sshConfigPath, 'utf8');
  const cmConfig = join(scratch, 'ssh_config.cm');
  writeFileSync(
    cmConfig,
    [
      base,
      'Host *',
      '  KexAlgorithms curve25519-sha256',
      '  BatchMode yes',
      '  ConnectTimeout 10',
      '  ControlMaster auto',
      `  ControlPath ${cmDir}/%C`,
      '  ControlPersist 300',
      '',
    ].join('\n'),
  );
  const hostsFile = join(scratch, 'hosts');
  writeFileSync(hostsFile, hosts.join('\n') + '\n');
  const copy = CASE === 'copy';
  const payload = join(scratch, 'payload.bin');
  writeFileSync(payload, randomBytes(1 << 20));
  const dest = join(scratch, 'dest'); // on the hosts (this machine's folder, named alike)
  const common = ['-F', fleet.sshConfigPath, '-w', hosts.join(','), '-f', String(FANOUT)];
  const fleetshArgs = copy
    ? ['copy', ...common, '--gather', payload, join(dest, 'payload')]
    : ['run', ...common, '--gather', '--', 'true'];
  const agentEnv = { XDG_RUNTIME_DIR: runtime, FLEETSH_NO_AGENT: '' };
  const tools: Array<{ name: string; cmd: Cmd; helper?: string; warm?: boolean; peer?: boolean }> = [
    {
      name: 'fleetsh (direct)',
      cmd: { file: process.execPath, args: [CLI, ...fleetshArgs], env: { FLEETSH_NO_AGENT: '1' } },
    },
    {
      name: 'fleetsh (agent)',
      cmd: { file: process.execPath, args: [CLI, ...fleetshArgs], env: agentEnv },
      helper: 'agent serve',
      warm: true,
    },
  ];
  const peer = (name: string, cmd: Cmd) =>
    tools.push({ name: `${name} (ControlMaster)`, peer: true, warm: true, helper: cmDir, cmd });
  const pdsh = which('pdsh');
  if (pdsh && !copy)
    peer('pdsh', {
      file: pdsh,
      args: ['-S', '-R', 'ssh', '-f', String(FANOUT), '-w', hosts.join(','), 'true'],
      env: { PDSH_SSH_ARGS_APPEND: `-F ${cmConfig}` },
    });
  const clush = which('clush');
  const clushArgs = ['-f', String(FANOUT), '-w', hosts.join(','), `--options=-F ${cmConfig}`];
  if (clush)
    peer('clush', {
      file: clush,
      args: copy ? [...clushArgs, '--copy', payload, '--dest', dest] : [...clushArgs, 'true'],
    });
  const pssh = copy ? (which('parallel-scp') ?? which('pscp')) : (which('parallel-ssh') ?? which('pssh'));
  const psshArgs = ['-p', String(FANOUT), '-t', '0', '-h', hostsFile, '-x', `-F ${cmConfig}`];
  if (pssh)
    peer(copy ? 'pscp' : 'pssh', {
      file: pssh,
      args: copy ? [...psshArgs, payload, join(dest, 'payload')] : [...psshArgs, 'true'],
    });
  mkdirSync(dest);

  for (const t of tools) if (t.warm) await run(t.cmd); // opens the agent's connections, the masters
  const samples = new Map<string, Sample[]>(tools.map((t) => [t.name, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const t of tools) {
      process.stderr.write(`rep ${rep + 1}/${REPS}: ${t.name}...\n`);
      samples.get(t.name)!.push(await series(t.cmd, t.helper));
    }
  }
  const med = (name: string) => ({
    wall: median(samples.get(name)!.map((s) => s.wallMs)),
    cpu: median(samples.get(name)!.map((s) => s.cpuMs)),
  });
  const peers = tools.filter((t) => t.peer).map((t) => ({ name: t.name, ...med(t.name) }));
  const bestWall = peers.reduce((a, b) => (b.wall < a.wall ? b : a), peers[0]!);
  const bestCpu = peers.reduce((a, b) => (b.cpu < a.cpu ? b : a), peers[0]!);
  console.log(
    `\n${RUNS} × ${copy ? 'copy of 1 MiB' : 'run `true`'} on ${HOSTS} hosts, fan-out ${FANOUT}, median of ${REPS} (load ${load0.map((l) => l.toFixed(1)).join(' ')} at start, ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at end)`,
  );
  for (const t of tools) {
    const m = med(t.name);
    const ratio = bestWall
      ? ` wall ${(m.wall / bestWall.wall).toFixed(2)}× best peer, CPU ${(m.cpu / bestCpu.cpu).toFixed(2)}× cheapest peer`
      : '';
    console.log(
      `${t.name.padEnd(24)} ${(m.wall / 1000).toFixed(2).padStart(7)} s wall ${(m.cpu / 1000).toFixed(2).padStart(7)} s CPU${ratio}`,
    );
  }
  const agent = med('fleetsh (agent)');
  const direct = med('fleetsh (direct)');
  console.log(
    `agent/direct: wall ${(agent.wall / direct.wall).toFixed(2)}×, CPU ${(agent.cpu / direct.cpu).toFixed(2)}×`,
  );
  if (bestWall)
    console.log(
      `agent/best peer (${bestWall.name}): wall ${(agent.wall / bestWall.wall).toFixed(2)}× (target ≤ ${copy ? '0.3' : '0.15'}×)`,
    );
} finally {
  spawnSync(process.execPath, [CLI, 'agent', 'stop'], { env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
  for (const pid of markedPids(cmDir)) process.kill(pid, 'SIGTERM'); // the ssh masters this bench opened
  await fleet.stop();
  if (existsSync(scratch)) rmSync(scratch, { recursive: true, force: true });
}
