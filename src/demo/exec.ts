// Running one `exec` request of a demo host: `/bin/sh -c COMMAND` in the host's folder, in its own
// process group, streaming stdout/stderr to the channel and reporting exit-status or exit-signal.
// The `signal` request and an early channel close act on the whole process group.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { ServerChannel } from 'ssh2';

/** Signal names that may travel in an SSH exit-signal message (RFC 4254 §6.10). */
const SSH_SIGNALS = new Set([
  'ABRT',
  'ALRM',
  'FPE',
  'HUP',
  'ILL',
  'INT',
  'KILL',
  'PIPE',
  'QUIT',
  'SEGV',
  'TERM',
  'USR1',
  'USR2',
]);

/** How long a command gets after SIGTERM (early channel close) before SIGKILL. */
const KILL_GRACE_MS = 1000;

/** Every process group the fleet started, so that stop() (or process exit) can end them all. */
export class ChildTracker {
  readonly children = new Set<ChildProcess>();
  readonly timers = new Set<NodeJS.Timeout>();
  stopped = false;

  /** SIGKILL every live process group, synchronously. */
  killAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const child of this.children) killGroup(child, 'SIGKILL');
  }

  /** Resolves when every tracked child has exited (or after `timeoutMs`). */
  async waitAll(timeoutMs: number): Promise<void> {
    const waits = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once('exit', () => resolve());
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(waits), timeout]);
    clearTimeout(timer);
  }
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** `TERM`, `SIGTERM` or `sigterm` to `SIGTERM`, when the platform knows it. */
export function signalFromName(name: string): NodeJS.Signals | undefined {
  const upper = name.toUpperCase();
  const full = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
  return full in constants.signals ? full : undefined;
}

export interface ExecOptions {
  command: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Wait this long before starting the command (slow hosts). */
  delayMs: number;
  tracker: ChildTracker;
}

export interface RunningCommand {
  /** Delivers a signal (SSH name such as `TERM`) to the command's process group; false if unknown. */
  signal(name: string): boolean;
  /** Ends the command because its channel or connection went away: SIGTERM, then SIGKILL. */
  abandon(): void;
}

async function flushed(stream: NodeJS.WritableStream & { writableLength?: number }): Promise<void> {
  if (!stream.writableLength) return;
  await new Promise<void>((resolve) => {
    stream.once('drain', () => resolve());
    stream.once('close', () => resolve());
  });
}

export function runCommand(channel: ServerChannel, opts: ExecOptions): RunningCommand {
  const { tracker } = opts;
  let child: ChildProcess | undefined;
  let closed = false; // the command and everything holding its output pipes have ended
  let done = false; // exit status sent, or the channel is gone
  let delay: NodeJS.Timeout | undefined;

  channel.on('error', () => {});
  channel.stderr.on('error', () => {});

  const finish = async (code: number | null, signal: NodeJS.Signals | null): Promise<void> => {
    if (done) return;
    done = true;
    await Promise.all([flushed(channel), flushed(channel.stderr)]);
    try {
      const name = signal?.slice(3);
      if (signal && name && SSH_SIGNALS.has(name)) channel.exit(name, false, '');
      else if (signal) channel.exit(128 + (constants.signals[signal] ?? 0));
      else channel.exit(code ?? 255);
      channel.end();
    } catch {
      // The channel closed in the meantime.
    }
  };

  const start = (): void => {
    delay = undefined;
    if (done || tracker.stopped) return;
    const proc = spawn('/bin/sh', ['-c', opts.command], {
      cwd: opts.cwd,
      env: opts.env,
      detached: true, // its own process group, so signals reach the whole pipeline
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child = proc;
    tracker.children.add(proc);
    proc.stdin.on('error', () => {}); // EPIPE when the command does not read its input
    proc.stdout.pipe(channel, { end: false });
    proc.stderr.pipe(channel.stderr, { end: false });
    channel.pipe(proc.stdin);
    proc.on('error', (err) => {
      tracker.children.delete(proc);
      if (!done) channel.stderr.write(`fleetsh demo: cannot start /bin/sh: ${err.message}\n`);
      void finish(127, null);
    });
    proc.on('close', (code, signal) => {
      closed = true;
      tracker.children.delete(proc);
      channel.unpipe(proc.stdin);
      void finish(code, signal);
    });
  };

  if (opts.delayMs > 0) {
    delay = setTimeout(() => {
      if (delay) tracker.timers.delete(delay);
      start();
    }, opts.delayMs);
    tracker.timers.add(delay);
  } else {
    start();
  }

  const cancelDelay = (): boolean => {
    if (!delay) return false;
    clearTimeout(delay);
    tracker.timers.delete(delay);
    delay = undefined;
    return true;
  };

  const abandon = (): void => {
    const wasWaiting = cancelDelay();
    done = true;
    if (wasWaiting || !child || closed) return;
    const proc = child;
    killGroup(proc, 'SIGTERM');
    const timer = setTimeout(() => {
      tracker.timers.delete(timer);
      killGroup(proc, 'SIGKILL');
    }, KILL_GRACE_MS);
    tracker.timers.add(timer);
    proc.once('close', () => {
      clearTimeout(timer);
      tracker.timers.delete(timer);
    });
  };
  channel.once('close', abandon);

  return {
    signal(name: string): boolean {
      const sig = signalFromName(name);
      if (!sig) return false;
      if (cancelDelay()) {
        // Signalled before it started: it ends as if the signal had killed it.
        void finish(null, sig);
        return true;
      }
      if (child) killGroup(child, sig);
      return true;
    },
    abandon,
  };
}
