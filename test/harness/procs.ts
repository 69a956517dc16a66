// Finding and killing the processes a fleet started, from /proc. Per-connection sshd children call
// setsid() and outlive the listener, and `nohup cmd &` in a session is re-parented to PID 1, so
// neither process groups nor the tree alone find everything. A fleet's processes are: its live
// listeners and their descendants (found while the listener is stopped, before it dies), and every
// process whose environment holds FLEETSH_HARNESS=<fleet dir>, which sessions get through SetEnv.
// (sshd processes themselves overwrite their environment with their process title.)
import { readdirSync, readFileSync, rmSync } from 'node:fs';

export const MARKER_VAR = 'FLEETSH_HARNESS';

interface ProcInfo {
  pid: number;
  ppid: number;
}

function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(rest[1]) });
    } catch {
      // The process exited while we were reading.
    }
  }
  return out;
}

function readProcText(pid: number, file: 'environ' | 'cmdline'): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return '';
  }
}

/** PIDs (other than ours) whose command line or environment mentions `text`, e.g. a fleet's dir. */
export function pidsMentioning(text: string): number[] {
  return listProcs()
    .map((p) => p.pid)
    .filter(
      (pid) =>
        pid !== process.pid &&
        (readProcText(pid, 'cmdline').includes(text) || readProcText(pid, 'environ').includes(text)),
    );
}

/** The roots (live sshd listeners), every process carrying the marker, and all their descendants. */
export function fleetPids(roots: number[], marker: string): number[] {
  const procs = listProcs();
  const alive = new Set(procs.map((p) => p.pid));
  const found = new Set(roots.filter((pid) => alive.has(pid)));
  const needle = `${MARKER_VAR}=${marker}\0`;
  for (const p of procs) {
    if (p.pid !== process.pid && readProcText(p.pid, 'environ').includes(needle)) found.add(p.pid);
  }
  // Descendants, to a fixed point (stat order is not parent-before-child).
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.add(p.pid);
        grew = true;
      }
    }
  }
  found.delete(process.pid);
  return [...found];
}

export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pids: number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * SIGTERM the fleet's processes, wait up to graceMs, then SIGKILL what remains. `roots` are the live
 * sshd listeners. They are stopped while we scan, so they cannot fork, and die last, so they reap
 * their children instead of leaving zombies to PID 1 (which here reaps only now and then).
 */
export async function killFleetProcesses(roots: number[], marker: string, graceMs = 1500): Promise<void> {
  signalAll(roots, 'SIGSTOP');
  const others = fleetPids(roots, marker).filter((pid) => !roots.includes(pid));
  for (const group of [others, roots]) {
    signalAll(group, 'SIGTERM');
    if (group === roots) signalAll(roots, 'SIGCONT'); // resumed with SIGTERM pending: no new forks
    await waitGone(group, graceMs);
    signalAll(group.filter(isAlive), 'SIGKILL');
    await waitGone(group, 1000);
  }
  // Whatever a session started while we were busy still carries the marker.
  for (let i = 0; i < 10 && fleetPids([], marker).length > 0; i++) {
    signalAll(fleetPids([], marker), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 20));
  }
  const left = [...others, ...roots, ...fleetPids([], marker)].filter(isAlive);
  if (left.length > 0) throw new Error(`fleet processes survived SIGKILL: ${left.join(', ')}`);
}

// --- Last-resort cleanup when the test process exits or is interrupted without stop() ---

interface Live {
  roots: () => number[]; // the sshd listeners still running
  marker: string;
  dir: string;
}
const live = new Set<Live>();
let handlersInstalled = false;

function killAllNow(): void {
  for (const f of live) {
    const roots = f.roots();
    signalAll(roots, 'SIGSTOP');
    // With the sshd trees, the clients this process started against them (runOnHost's ssh: their
    // command line names the fleet's ssh_config), which would otherwise linger until they notice.
    signalAll([...fleetPids(roots, f.marker), ...pidsMentioning(f.dir)], 'SIGKILL');
    rmSync(f.dir, { recursive: true, force: true });
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAllNow();
  // Restore the default action and re-raise so the process still dies of the signal.
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  process.kill(process.pid, signal);
}

/** Track a fleet's processes for the exit/signal handlers; returns the function that untracks it. */
export function trackFleet(f: Live): () => void {
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on('exit', killAllNow);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  live.add(f);
  return () => live.delete(f);
}
