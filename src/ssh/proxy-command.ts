// ProxyCommand: the SSH stream is a local command's stdin and stdout. It runs as OpenSSH runs it,
// `$SHELL -c "exec <command>"` (its %h, %p, %r tokens already expanded by resolve.ts), in its own
// process group so that closing the connection ends whatever it started. Its stderr is kept, the
// last 2 KiB, for the message when it ends before the server has spoken.
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { ConnectionError } from '../process/errors.js';
import { printable } from '../process/printable.js';

export interface ProxyProcess {
  /** stdout to read the server from, stdin to write to it. Destroying it ends the command. */
  stream: Duplex;
  /** Keep the process alive while a connection is in use, or let it exit while idle. */
  ref(): void;
  unref(): void;
  /** Why the stream ended before the SSH banner: the command's exit and the end of its stderr. */
  failure(): Promise<ConnectionError>;
}

const STDERR_TAIL = 2048;

export function startProxyCommand(command: string, label: string): ProxyProcess {
  const shell = process.env.SHELL || '/bin/sh';
  const child = spawn(shell, ['-c', `exec ${command}`], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // its own process group, ended as a whole
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-STDERR_TAIL)));
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let ended = false;
  const end = () => {
    if (ended || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    ended = true;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  stream.on('close', end);
  // A proxy that dies leaves EPIPE on its stdin: the stream's own error reports the end.
  child.stdin.on('error', () => {});
  // The pipes are sockets: each keeps the event loop alive until unref'd, as does the child.
  const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as Array<{
    ref(): void;
    unref(): void;
  }>;

  return {
    stream,
    ref: () => handles.forEach((h) => h.ref()),
    unref: () => handles.forEach((h) => h.unref()),
    failure: async () => {
      // stdout can close before the exit is reported: wait for it, briefly.
      const status = await Promise.race([
        exited,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000).unref()),
      ]);
      const how = spawnError
        ? `could not start (${spawnError.message})`
        : status === undefined
          ? 'closed its output'
          : status.signal
            ? `was killed by ${status.signal}`
            : `exited with status ${status.code}`;
      // What the proxy printed may come from the far side (ssh -W relays the bastion's words).
      const said = printable(stderr.trim().split('\n').slice(-3).join(' / '));
      return new ConnectionError(
        'protocol',
        label,
        `ProxyCommand ${how} before the SSH server spoke` + (said ? `: ${said}` : ''),
        { hint: `The command was: ${command}`, stage: 'banner' },
      );
    },
  };
}
