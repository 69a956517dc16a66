// Where a warm run's time goes: `fleetsh run -- echo ok` through `fleetsh agent` on N harness hosts,
// --runs times after two unmeasured runs (they start nothing: each agent runs in the foreground
// here, this bench's own child; the first run opens its connections, the second its persistent
// shells when they are on). With several variants (--variants), each has an agent of its own and
// their runs alternate on the same fleet, so that a busy machine's swings fall on all of them. Per run:
// the wall time, the CLI's CPU (its process, reaped by this one: /proc/self/stat cutime+cstime),
// the agent's CPU (/proc/PID/stat), the hosts' CPU (every sshd, shell and command of the harness
// fleet and the children they reaped) and the whole machine's busy CPU (/proc/stat). Also the CLI's
// start-up alone (`fleetsh --version`) and, with --cpu-prof DIR, V8 CPU profiles of the agent and
// of each measured CLI run (node --cpu-prof) for a profile viewer or bench/agent-profile-top.ts.
//
//   npm run build && npx tsx bench/agent-profile.ts [--hosts 200] [--runs 10] [--fanout 64]
//                         [--variants exec,shell] [--baseline OTHER/dist/cli/bin.cjs] [--cpu-prof DIR]
//
// Variants: `exec` (one exec request a command, the default), `shell` (the agent's persistent
// shells, FLEETSH_AGENT_PERSISTENT_SHELL=1), each with this build's CLI; with --baseline, `base-exec`
// and `base-shell` run another build's CLI and agent (a build of main, to compare); a name ending
// in `-nojournal` (`exec-nojournal`) runs `fleetsh run --no-journal`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'bin.cjs');
const BASELINE = arg('baseline') && resolve(arg('baseline')!);
const VARIANTS = (arg('variants') ?? 'exec').split(',');
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

function runCli(
  cli: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  nodeFlags: string[] = [],
): Promise<number> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [...nodeFlags, cli, ...args], {
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

interface Variant {
  name: string;
  cli: string;
  env: NodeJS.ProcessEnv;
  /** false: the runs take --no-journal. */
  journal: boolean;
  agent?: ChildProcess;
  totals: { wall: number; cli: number; agent: number; hosts: number; machine: number };
}

const fmtLoad = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'fsprof-'));
  const fleet = await startFleet({ healthy: HOSTS });
  const variants: Variant[] = VARIANTS.map((name) => {
    const base = name.startsWith('base-');
    if (base && !BASELINE) throw new Error(`variant ${name} needs --baseline`);
    const dir = join(scratch, name);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      XDG_RUNTIME_DIR: dir,
      FLEETSH_JOURNAL: join(dir, 'journal'),
    };
    if (/-?shell\b/.test(name)) env.FLEETSH_AGENT_PERSISTENT_SHELL = '1';
    return {
      name,
      cli: base ? BASELINE! : CLI,
      env,
      journal: !name.endsWith('-nojournal'),
      totals: { wall: 0, cli: 0, agent: 0, hosts: 0, machine: 0 },
    };
  });
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
  const argsOf = (v: Variant) => (v.journal ? runArgs : ['run', '--no-journal', ...runArgs.slice(1)]);
  const profFlags = (what: string) =>
    PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${what}.cpuprofile`] : [];
  try {
    for (const v of variants) {
      mkdirSync(v.env.XDG_RUNTIME_DIR!, { mode: 0o700 });
      const agent = spawn(process.execPath, [...profFlags(`agent-${v.name}`), v.cli, 'agent', 'serve'], {
        env: { ...v.env, FLEETSH_AGENT_READY_FD: '3' },
        stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      });
      v.agent = agent;
      await new Promise<void>((res, rej) => {
        agent.stdio[3]!.once('data', () => res());
        agent.once('exit', (code) => rej(new Error(`the ${v.name} agent exited with ${code}`)));
      });
    }
    console.log(
      `load average ${fmtLoad()}; ${HOSTS} hosts, fan-out ${FANOUT}; variants ${VARIANTS.join(', ')}`,
    );
    for (const v of variants) {
      const startups: number[] = [];
      for (let i = 0; i < 5; i++) {
        const c0 = cpuOf('self').children;
        await runCli(v.cli, ['--version'], v.env);
        startups.push(cpuOf('self').children - c0);
      }
      console.log(`${v.name}: fleetsh --version: CPU ${startups.join(', ')} ms`);
      await runCli(v.cli, argsOf(v), v.env); // opens the agent's connections
      await runCli(v.cli, argsOf(v), v.env); // and their persistent shells, when on
    }
    for (let i = 0; i < RUNS; i++) {
      for (const v of i % 2 ? [...variants].reverse() : variants) {
        const a0 = cpuOf(v.agent!.pid!).own;
        const c0 = cpuOf('self').children;
        const h0 = hostCpuMs(fleet);
        const m0 = machineBusyMs();
        const t0 = performance.now();
        await runCli(v.cli, argsOf(v), v.env, profFlags(`cli-${v.name}-${i + 1}`));
        const x = {
          wall: performance.now() - t0,
          cli: cpuOf('self').children - c0,
          agent: cpuOf(v.agent!.pid!).own - a0,
          hosts: hostCpuMs(fleet) - h0,
          machine: machineBusyMs() - m0,
        };
        for (const k of Object.keys(v.totals) as (keyof Variant['totals'])[]) v.totals[k] += x[k];
        console.log(
          `${v.name} run ${i + 1}: wall ${x.wall.toFixed(0)} ms, CLI CPU ${x.cli.toFixed(0)} ms, agent CPU ${x.agent.toFixed(0)} ms, hosts' CPU ${x.hosts.toFixed(0)} ms, machine ${x.machine.toFixed(0)} ms`,
        );
      }
    }
    const per = (ms: number) => `${((ms / RUNS / HOSTS) * 1000).toFixed(0)} µs a command`;
    for (const { name, totals: t } of variants)
      console.log(
        `${name}, ${RUNS} runs: wall ${(t.wall / 1000).toFixed(2)} s; CLI ${(t.cli / 1000).toFixed(2)} s (${(t.cli / RUNS).toFixed(0)} ms a run), agent ${(t.agent / 1000).toFixed(2)} s (${per(t.agent)}), hosts ${(t.hosts / 1000).toFixed(2)} s (${per(t.hosts)}), machine ${(t.machine / 1000).toFixed(2)} s`,
      );
    console.log(`load average at the end ${fmtLoad()}`);
  } finally {
    for (const v of variants) {
      const agent = v.agent;
      if (!agent || agent.exitCode !== null) continue;
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
    }
    await fleet.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
