// `fleetsh ... | head`: when the reader of stdout goes away, writes fail with EPIPE. A running job
// then stops as on Ctrl-C (no more hosts, the commands in flight killed) and ends quietly with 141,
// as a program killed by SIGPIPE does; with no job running, fleetsh exits with 141 at once.
import { EXIT } from './exit-codes.js';

let closed = false;
const listeners = new Set<() => void>();

export function watchStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    // After the first EPIPE the stream is destroyed, and later writes fail too: all expected.
    if (closed) return;
    if (e.code !== 'EPIPE') throw e;
    closed = true;
    if (listeners.size === 0) process.exit(EXIT.outputClosed);
    for (const l of listeners) l();
  });
}

/** Whether stdout's reader has gone. */
export function stdoutClosed(): boolean {
  return closed;
}

/** Calls `listener` when stdout's reader goes away; returns the unsubscribe function. */
export function onStdoutClosed(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
