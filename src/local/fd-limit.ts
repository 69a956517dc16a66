// This machine's limit on open files, and the error when a connection needs a descriptor past it.
// Every SSH connection holds one (two through a ProxyCommand, more while it reads key files), so a
// run wider than `ulimit -n` allows fails with EMFILE somewhere: in a socket, a key file read or a
// module load. Wherever it surfaces, it is named for what it is, with the limit and what to do.
import { readFileSync } from 'node:fs';
import { ConnectionError } from '../process/errors.js';

/** The last limit read: an error about running out of descriptors may not be able to read it again. */
let lastRead: number | null = null;

/**
 * The soft limit on open files of this process (Linux: /proc/self/limits), or null when unknown.
 * Read at each call (a pool's creation, an error), since it can change while the process runs
 * (`prlimit --pid`); when the read itself finds no descriptor, the last value read.
 */
export function openFilesLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft && /^\d+$/.test(soft)) lastRead = Number(soft);
  } catch {
    // not Linux, /proc is not mounted, or no descriptor left to read it with
  }
  return lastRead;
}

/** True when `e`, or an error it was caused by, is EMFILE or ENFILE. */
export function isOutOfFiles(e: unknown): boolean {
  for (let err = e, depth = 0; err && depth < 8; err = (err as { cause?: unknown }).cause, depth++) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EMFILE' || code === 'ENFILE') return true;
  }
  return false;
}

/** The error of a connection that could not get a file descriptor. */
export function outOfFilesError(host: string, cause: unknown): ConnectionError {
  const limit = openFilesLimit();
  const system = (cause as NodeJS.ErrnoException)?.code === 'ENFILE';
  const detail = system
    ? 'this machine ran out of file descriptors (ENFILE: the system-wide limit was reached)'
    : `fleetsh ran out of file descriptors (EMFILE: ${limit === null ? 'the limit' : `the limit is ${limit}`} open files, see ulimit -n)`;
  return new ConnectionError('resources', host, detail, {
    hint: system
      ? 'Lower the concurrency, or raise fs.file-max.'
      : `Each host being connected holds a descriptor: lower the concurrency, or raise the limit (ulimit -n ${Math.max(4096, 2 * (limit ?? 1024))}).`,
    cause,
  });
}
