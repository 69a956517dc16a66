// Files read once for many connections: key files, known_hosts and ssh_config are read (and parsed)
// again only when their stat changes, so an edit is seen by the next connection and a run of a
// thousand hosts costs one stat each instead of a read and a parse. Written here because the rule is
// fleetsh's: which stat fields, and the racy window (git's "racily clean" index entries).
import type { Stats } from 'node:fs';

/**
 * A file changed this recently is read again by each caller: the kernel stamps mtime and ctime from
 * a coarse clock (a few ms on Linux), and a network filesystem from its own, so a second edit of the
 * same size soon after the first can leave every stat field unchanged. A read still in flight is
 * shared even then: its callers all asked once the file was as its stat shows.
 */
export const RACY_MS = 2000;

interface Entry<T> {
  stamp: string;
  racy: boolean;
  pending: boolean;
  value: Promise<T>;
}

/** Values read from files, by path, valid while the file's inode, size, mtime and ctime stay. */
export class FileCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #limit: number;
  readonly #now: () => number;

  /** `now` is the clock file times are compared with (tests move it on past the racy window). */
  constructor(limit = 256, now: () => number = Date.now) {
    this.#limit = limit;
    this.#now = now;
  }

  /** The value of `file`, whose stat is `st`: cached, or from `read` when the file may have changed. */
  get(file: string, st: Stats, read: () => Promise<T>): Promise<T> {
    const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    const hit = this.#entries.get(file);
    if (hit && hit.stamp === stamp && (hit.pending || !hit.racy)) return hit.value;
    const entry: Entry<T> = {
      stamp,
      racy: this.#now() - Math.max(st.mtimeMs, st.ctimeMs) < RACY_MS,
      pending: true,
      value: read(),
    };
    entry.value.then(
      () => (entry.pending = false),
      () => {
        if (this.#entries.get(file) === entry) this.#entries.delete(file);
      },
    );
    this.#entries.delete(file);
    if (this.#entries.size >= this.#limit) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(file, entry);
    return entry.value;
  }
}
