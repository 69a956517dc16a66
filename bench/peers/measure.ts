// Measuring one run of a tool for bench/peers.ts: wall time, the CPU of the tool and every process
// it waited for (user+sys from /usr/bin/time, which reads wait4's rusage), whole-machine CPU (the
// busy ticks of /proc/stat over the run: this includes the local sshd processes, and anything else
// the machine runs meanwhile), and peak RSS two ways: the largest single process (time's %M) and
// the sum over the tool's process tree, sampled from /proc every 50 ms (pdsh with 64 ssh clients
// is 65 processes; a short peak between two samples is missed). No library reads a process tree's
// RSS or /proc/stat on Linux without native code, and these are a few lines each.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const TIME = '/usr/bin/time';
export const HAVE_TIME = existsSync(TIME);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const PAGE_KB =
  (Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim()) || 4096) / 1024;

/** What one run of one tool cost. */
export interface Cost {
  wallMs: number;
  /** user+sys of the tool and its waited-for children (in-process runs: this process). */
  cpuMs: number;
  /** busy CPU time of the whole machine over the run (all cores, sshd included). */
  machineCpuMs: number;
  /** peak of the summed RSS of the tool's process tree (sampled). */
  treeRssKb?: number;
  /** peak RSS of the largest single process of the tree. */
  maxRssKb?: number;
}

export interface ExternalRun extends Cost {
  rc: number | null;
  stderr: string;
  timedOut: boolean;
}

export interface Cmd {
  file: string;
  args: string[];
  env?: Record<string, string>;
}

/** Busy ticks of all CPUs (everything but idle and iowait), in ms. */
export function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return ((user! + nice! + system! + irq! + softirq! + (steal ?? 0)) * 1000) / CLK_TCK;
}

/** The summed RSS of a process and its descendants (pids from /proc/PID/task/TID/children). */
function treeRssKb(root: number, skipRoot: boolean): number {
  let kb = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    try {
      if (!(skipRoot && pid === root))
        kb += Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE_KB;
      for (const tid of readdirSync(`/proc/${pid}/task`))
        for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' '))
          if (c.trim()) stack.push(Number(c));
    } catch {
      // ended meanwhile
    }
  }
  return kb;
}

function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // fields 14, 15: utime, stime
  } catch {
    return 0;
  }
}

/**
 * Pids of live processes this bench started outside a measured tree (ssh ControlMaster masters, whose
 * title names their socket under `marker`; a fleetsh agent, whose environment holds `marker`).
 */
export function markedPids(marker: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker) ||
        readFileSync(`/proc/${pid}/environ`, 'utf8').includes(marker)
      )
        out.push(Number(pid));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/** utime+stime (ms) of the live processes markedPids finds: add the delta over a run to its CPU. */
export function markedCpuMs(marker: string): number {
  return markedPids(marker).reduce((t, pid) => t + procCpuMs(pid), 0);
}

/** SIGTERM to the processes this bench started under `marker`, by pid. */
export function killMarked(marker: string): void {
  for (const pid of markedPids(marker)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
}

/**
 * Runs one command to completion, its stdout into `stdoutFile` (checked afterwards, so parsing costs
 * the tool nothing), in its own process group (killed whole after `timeoutS`), and measures it.
 */
export function runExternal(
  cmd: Cmd,
  opts: { stdoutFile: string; cwd: string; timeoutS: number },
): Promise<ExternalRun> {
  const timeFile = join(opts.cwd, `time.${randomBytes(4).toString('hex')}`);
  const [file, args] = HAVE_TIME
    ? [TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd.file, ...cmd.args]]
    : [cmd.file, cmd.args];
  const out = openSync(opts.stdoutFile, 'w');
  const m0 = machineBusyMs();
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: opts.cwd, // no ./fleetsh.yml, no ansible.cfg
      env: { ...process.env, ...cmd.env },
      stdio: ['ignore', out, 'pipe'],
      detached: true, // its own process group, killed whole on timeout
    });
    closeSync(out);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let treeKb = 0;
    const sample = () => (treeKb = Math.max(treeKb, treeRssKb(child.pid!, HAVE_TIME)));
    const sampler = setInterval(sample, 50);
    setTimeout(sample, 10);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, opts.timeoutS * 1000);
    child.on('close', (rc) => {
      clearTimeout(timer);
      clearInterval(sampler);
      const wallMs = performance.now() - t0;
      const machineCpuMs = machineBusyMs() - m0;
      let cpuMs = NaN;
      let maxRssKb: number | undefined;
      if (HAVE_TIME) {
        try {
          // "Command exited with non-zero status N" may come first
          const last = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
          cpuMs = (last[1]! + last[2]!) * 1000;
          maxRssKb = last[3];
        } catch {
          // killed before time wrote anything
        }
        rmSync(timeFile, { force: true });
      }
      resolve({
        wallMs,
        cpuMs,
        machineCpuMs,
        treeRssKb: treeKb || undefined,
        maxRssKb,
        rc,
        stderr,
        timedOut,
      });
    });
  });
}

/** In-process: wall, this process's CPU and the machine's around fn (the library's work is all here). */
export async function runInProcess<T>(fn: () => Promise<T>): Promise<Cost & { value?: T; error?: string }> {
  const cpu0 = process.cpuUsage();
  const m0 = machineBusyMs();
  const t0 = performance.now();
  let value: T | undefined;
  let error: string | undefined;
  try {
    value = await fn();
  } catch (e) {
    error = String(e);
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, machineCpuMs: machineBusyMs() - m0, value, error };
}
