// stdout and stderr written synchronously when they are pipes, as Node already writes them when
// they are files or terminals (and as pdsh and clush write). Node writes to a pipe asynchronously
// and queues what the reader has not taken yet, without bound: the live lines of `fleetsh run`
// piped into a slower reader grew that queue by whatever the hosts printed (20 hosts × 1.4 MB,
// read by another process: peak RSS 304 MiB, against 150 MiB with stdout on /dev/null). Written
// synchronously, a slow reader slows fleetsh's reading of its channels instead, and SSH's flow
// control slows the hosts, as with a slow terminal. The price is the same as on a terminal: while
// the reader takes nothing, fleetsh waits in the write (its timers, Ctrl-C included, run once the
// reader takes more or goes away, which ends the run as `| head` does: src/cli/stdout-closed.ts).
// Node has no public switch for this; its own tty and Windows pipe streams call the handle's
// setBlocking, which is what is done here.

interface BlockingHandle {
  setBlocking?(blocking: boolean): number;
}

/** Makes stdout and stderr blocking when they are pipes; leaves files, terminals and sockets alone. */
export function blockOnPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const s = stream as unknown as { _type?: string; _handle?: BlockingHandle };
    if (s._type === 'pipe') s._handle?.setBlocking?.(true);
  }
}
