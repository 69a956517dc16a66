// Runs an inventory command (`command:` of a group) on this machine and gives back what it printed.
// The program is executed directly, as Ansible executes an inventory script: no shell reads the
// command line, so nothing in it is expanded, split or globbed. It runs in the inventory's folder,
// leads its own process group (so a timeout ends what it started, too), and is bounded: in time
// (the caller's deadline), in output (MAX_OUTPUT) and in life (it does not outlive fleetsh).
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';

/** Why a command gave no usable output; `stderr` is the end of what it wrote there, if it ran. */
export class CommandRunError extends Error {
  readonly stderr: string | undefined;
  constructor(reason: string, stderr?: string) {
    super(reason);
    this.stderr = stderr;
  }
}

/**
 * Output beyond this is refused. An estimate, not a measurement: Ansible's ec2 script prints about
 * 2 KB of variables a host, so 10,000 hosts are ~20 MB; 64 MiB leaves room and bounds memory.
 */
const MAX_OUTPUT = 64 * 1024 * 1024;
/** What is kept of stderr for messages: its end. */
const STDERR_KEPT = 4096;
/** After SIGTERM, time for a script to remove its temporary files before SIGKILL. */
const TERM_GRACE_MS = 1000;
/** After SIGKILL, how long to wait for the output pipes to close (a child that left the group may hold them). */
const KILL_WAIT_MS = 1000;

/**
 * Runs `program args...` in `cwd`; resolves with its stdout when it exits with 0 within `timeoutMs`.
 * Otherwise rejects with a CommandRunError saying why (not found, not executable, exit code, signal,
 * timeout, too much output, `signal` aborted: then it is stopped as at the timeout).
 */
export function runCommand(
  program: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    if (timeoutMs <= 0) {
      reject(new CommandRunError('ran out of time (commandTimeout) before it could start'));
      return;
    }
    // Hooked before the spawn: a Ctrl-C that comes as soon as the program runs (before this
    // process has run another line) must not take the default action and leave the program behind.
    hook();
    let child: ChildProcess;
    try {
      child = spawn(program, args, {
        cwd,
        env: process.env,
        detached: true, // its own process group: kill(-pid) reaches what it started
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      if (running.size === 0) unhook();
      reject(new CommandRunError(spawnFailure(program, e)));
      return;
    }
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = Buffer.alloc(0);
    let failure: string | undefined;
    let started = true;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const pid = child.pid;
    const killGroup = (sig: NodeJS.Signals) => {
      if (pid === undefined) return;
      try {
        process.kill(-pid, sig);
      } catch {
        // already gone
      }
    };
    const stop = (why: string) => {
      if (failure !== undefined) return;
      failure = why;
      killGroup('SIGTERM');
      timers.push(
        setTimeout(() => {
          killGroup('SIGKILL');
          timers.push(setTimeout(() => finish(null, 'SIGKILL'), KILL_WAIT_MS));
        }, TERM_GRACE_MS),
      );
    };
    const onAbort = () => stop('was stopped: another call of the command failed');
    const finish = (code: number | null, killedBy: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      if (pid !== undefined) unregister(pid);
      signal?.removeEventListener('abort', onAbort);
      // Whatever the program left running in its group ends with it.
      killGroup('SIGKILL');
      child.stdout?.destroy();
      child.stderr?.destroy();
      const tail = started ? stderrTail(stderr) : undefined;
      if (failure !== undefined) reject(new CommandRunError(failure, tail));
      else if (killedBy !== null) reject(new CommandRunError(`was killed by ${killedBy}`, tail));
      else if (code !== 0) reject(new CommandRunError(`exited with code ${code}`, tail));
      else resolve(Buffer.concat(stdout).toString('utf8'));
    };

    if (pid !== undefined) register(pid);
    else if (running.size === 0) unhook(); // not started: its 'error' comes next
    timers.push(
      setTimeout(
        () =>
          stop(
            `did not finish within ${seconds(timeoutMs)} and was killed (raise commandTimeout if it is only slow)`,
          ),
        timeoutMs,
      ),
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_OUTPUT) {
        stop(`printed more than ${MAX_OUTPUT / 1024 / 1024} MiB and was stopped`);
        return;
      }
      stdout.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_KEPT) stderr = stderr.subarray(stderr.length - STDERR_KEPT);
    });
    child.on('error', (e) => {
      if (settled) return;
      started = false;
      failure ??= spawnFailure(program, e);
      finish(null, null);
    });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    child.on('close', (code, killedBy) => finish(code, killedBy));
  });
}

/** The last lines of stderr, for a message: at most 5 lines and 400 characters. */
function stderrTail(bytes: Buffer): string {
  const lines = bytes.toString('utf8').trimEnd().split('\n').slice(-5).join('\n');
  return lines.length > 400 ? `…${lines.slice(-400)}` : lines;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

function spawnFailure(program: string, e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') {
    return program.includes('/')
      ? `was not found: no such file ${program}`
      : "was not found on the PATH (start a path in the inventory's folder with ./)";
  }
  if (code === 'EACCES' || code === 'EPERM') {
    let directory = false;
    try {
      directory = statSync(program).isDirectory();
    } catch {
      // the message below is still right
    }
    return directory
      ? 'is a directory, not a program'
      : 'is not executable (chmod +x it, and give it a #! line)';
  }
  return `could not be started: ${e instanceof Error ? e.message : String(e)}`;
}

// Commands still running, so that they do not outlive this process: on exit they are killed, and a
// SIGINT, SIGTERM or SIGHUP that would end this process ends them first (they lead their own
// process groups, so a Ctrl-C on the terminal does not reach them by itself).
const running = new Set<number>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooked = false;

function killAll(signal: NodeJS.Signals): void {
  for (const pid of running) {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  killAll('SIGKILL');
  // Alone on this signal, we stand in for its default action: end the process by the signal.
  if (process.listenerCount(signal) === 1) {
    unhook();
    process.kill(process.pid, signal);
  }
}

function onExit(): void {
  killAll('SIGKILL');
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', onExit);
}

function unhook(): void {
  if (!hooked) return;
  hooked = false;
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', onExit);
}

/** Hooks the process while at least one command runs. */
function register(pid: number): void {
  running.add(pid);
  hook();
}

function unregister(pid: number): void {
  running.delete(pid);
  if (running.size === 0) unhook();
}
