// Runs commands on this machine through /bin/sh. Each command leads its own process group, so a
// timeout or kill reaches the whole tree (children that call setsid themselves escape: as with any shell).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { UsageError } from '../process/errors.js';
import { killRequestOf, type ExecOutcome, type ExecRequest, type Executor } from '../process/executor.js';

export class LocalExecutor implements Executor {
  readonly host = 'local';

  exec(req: ExecRequest): Promise<ExecOutcome> {
    if (req.pty || req.sudo) {
      const message = req.pty
        ? 'local: a pseudo-terminal (pty) is only for commands on SSH hosts'
        : 'local: the sudo option is only for commands on SSH hosts; here, write sudo in the command';
      return Promise.reject(new UsageError(message, { host: 'local' }));
    }
    if (req.cwd !== undefined && !existsSync(req.cwd)) {
      return Promise.reject(
        new UsageError(`local: working directory ${req.cwd} does not exist`, { host: 'local' }),
      );
    }
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', req.command], {
        cwd: req.cwd,
        env: req.env ? { ...process.env, ...req.env } : process.env,
        detached: true, // its own process group: kill(-pid) reaches every child
        stdio: [req.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let killTimer: NodeJS.Timeout | undefined;
      const killGroup = (signal: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // already gone
        }
      };
      const onAbort = () => {
        const { signal, graceMs } = killRequestOf(req.signal);
        killGroup(signal);
        if (signal !== 'SIGKILL') killTimer = setTimeout(() => killGroup('SIGKILL'), graceMs);
      };
      if (req.signal.aborted) onAbort();
      else req.signal.addEventListener('abort', onAbort, { once: true });

      child.stdout!.on('data', (c: Buffer) => req.onData('stdout', c));
      child.stderr!.on('data', (c: Buffer) => req.onData('stderr', c));
      if (child.stdin) {
        child.stdin.on('error', () => {}); // EPIPE when the command does not read its input
        const input = req.stdin!;
        if (input instanceof Readable) input.pipe(child.stdin);
        else child.stdin.end(input);
      }
      child.on('error', (e) => {
        req.signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        req.signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        // The shell may be gone while children it left behind still hold the group: end them too.
        if (req.signal.aborted) killGroup('SIGKILL');
        resolve({ exitCode: code, signal: signal ?? null });
      });
    });
  }
}
