// Where a warm run's time goes: `fleetsh run -- echo ok` through `fleetsh agent` on N harness hosts,
// --runs times in a row after an unmeasured first run (it starts nothing: the agent runs in the
// foreground here, this bench's own child, and the first run opens its connections). Per run:
// the wall time, the CLI's CPU (its process, reaped by this one: /proc/self/stat cutime+cstime),
// the agent's CPU (/proc/PID/stat), the hosts' CPU (every sshd, shell and command of the harness
// fleet and the children they reaped) and the whole machine's busy CPU (/proc/stat). Also the CLI's
// start-up alone (`fleetsh --version`) and, with --cpu-prof DIR, V8 CPU profiles of the agent and
// of each measured CLI run (node --cpu-prof) for a profile viewer or bench/agent-profile-top.ts.
//
//   npm run build && npx tsx bench/agent-profile.ts [--hosts 200] [--runs 10] [--fanout 64]
//                         [--persistent-shell] [--cpu-prof DIR] [--cli dist/cli/bin.cjs]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFleet, type TestFleet } from '../test/harness/fleet.js';
import { fleetPids, pidsMentioning } from '../test/harness/procs.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const HOSTS = Number(arg('hosts') ?? 200);
const RUNS = Number(arg('runs') ?? 10);
const FANOUT = Number(arg('fanout') ?? 64);
const PROFILE_DIR = arg('cpu-prof');
const PERSISTENT = process.argv.includes('--persistent-shell'); // FLEETSH_AGENT_PERSISTENT_SHELL=1
const CLI = resolve(arg('cli') ?? join(import.meta.dirname, '..', 'dist', 'cli', 'bin.cjs'));
const TICK_MS = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100);

function statFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
/** utime+stime (own) and cutime+cstime (reaped children) of a process, in ms. */
function cpuOf(pid: number | 'self'): { own: number; children: number } {
  try {
    const f = statFields(pid);
    return {
      own: (Number(f[11]) + Number(f[12])) * TICK_MS,
      children: (Number(f[13]) + Number(f[14])) * TICK_MS,
    };
  } catch {
    return { own: 0, children: 0 };
  }
}
function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  return (f.reduce((a, b) => a + b, 0) - idle) * TICK_MS;
}
function hostCpuMs(fleet: TestFleet): number {
  const listeners = pidsMentioning(fleet.dir).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('[listener]');
    } catch {
      return false;
    }
  });
  let ms = 0;
  for (const pid of fleetPids(listeners, fleet.dir)) {
    const c = cpuOf(pid);
    ms += c.own + c.children;
  }
  return ms;
}

function runCli(args: string[], env: NodeJS.ProcessEnv, nodeFlags: string[] = []): Promise<number> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [...nodeFlags, CLI, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => {
      if (code !== 0) return rej(new Error(`fleetsh ${args[0]} exited ${code}: ${err.slice(-500)}`));
      if (args[0] === 'run' && (out.match(/ok/g)?.length ?? 0) < HOSTS)
        return rej(new Error(`fleetsh run printed too few answers: ${out.slice(0, 300)}`));
      res(code);
    });
  });
}

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'fsprof-'));
  const fleet = await startFleet({ healthy: HOSTS });
  const env = { ...process.env, XDG_RUNTIME_DIR: scratch, FLEETSH_JOURNAL: join(scratch, 'journal') };
  if (PERSISTENT) (env as NodeJS.ProcessEnv).FLEETSH_AGENT_PERSISTENT_SHELL = '1';
  const hosts = fleet.healthy.map((h) => h.name).join(',');
  const runArgs = [
    'run',
    '-w',
    hosts,
    '-f',
    String(FANOUT),
    '-F',
    fleet.sshConfigPath,
    '--no-progress',
    '--',
    'echo ok',
  ];
  const profFlags = (what: string) =>
    PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${what}.cpuprofile`] : [];
  const agent = spawn(process.execPath, [...profFlags('agent'), CLI, 'agent', 'serve'], {
    env: { ...env, FLEETSH_AGENT_READY_FD: '3' },
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
  });
  try {
    await new Promise<void>((res, rej) => {
      agent.stdio[3]!.once('data', () => res());
      agent.once('exit', (code) => rej(new Error(`the agent exited with ${code}`)));
    });
    console.log(
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}; ${HOSTS} hosts, fan-out ${FANOUT}${PERSISTENT ? ', persistent shells' : ''}`,
    );
    // Start-up alone.
    const startups: number[] = [];
    for (let i = 0; i < 5; i++) {
      const c0 = cpuOf('self').children;
      await runCli(['--version'], env);
      startups.push(cpuOf('self').children - c0);
    }
    console.log(`fleetsh --version: CPU ${startups.join(', ')} ms`);
    await runCli(runArgs, env); // opens the agent's connections
    await runCli(runArgs, env); // and their persistent shells, when on
    const totals = { wall: 0, cli: 0, agent: 0, hosts: 0, machine: 0 };
    for (let i = 0; i < RUNS; i++) {
      const a0 = cpuOf(agent.pid!).own;
      const c0 = cpuOf('self').children;
      const h0 = hostCpuMs(fleet);
      const m0 = machineBusyMs();
      const t0 = performance.now();
      await runCli(runArgs, env, profFlags(`cli-${i + 1}`));
      const x = {
        wall: performance.now() - t0,
        cli: cpuOf('self').children - c0,
        agent: cpuOf(agent.pid!).own - a0,
        hosts: hostCpuMs(fleet) - h0,
        machine: machineBusyMs() - m0,
      };
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += x[k];
      console.log(
        `run ${i + 1}: wall ${x.wall.toFixed(0)} ms, CLI CPU ${x.cli.toFixed(0)} ms, agent CPU ${x.agent.toFixed(0)} ms, hosts' CPU ${x.hosts.toFixed(0)} ms, machine ${x.machine.toFixed(0)} ms`,
      );
    }
    const per = (ms: number) => `${((ms / RUNS / HOSTS) * 1000).toFixed(0)} µs a command`;
    console.log(
      `${RUNS} runs: wall ${(totals.wall / 1000).toFixed(2)} s; CLI ${(totals.cli / 1000).toFixed(2)} s (${(totals.cli / RUNS).toFixed(0)} ms a run), agent ${(totals.agent / 1000).toFixed(2)} s (${per(totals.agent)}), hosts ${(totals.hosts / 1000).toFixed(2)} s (${per(totals.hosts)}), machine ${(totals.machine / 1000).toFixed(2)} s; load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    agent.kill('SIGTERM');
    await new Promise((r) => (agent.exitCode !== null ? r(undefined) : agent.once('exit', r)));
    await fleet.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
