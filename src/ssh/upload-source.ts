// A small file uploaded to many hosts is read from disk once for all of them: each host's upload
// asks for the file's bytes, and uploads that overlap (a fleet's copy, fan-out 64) share one read.
// A profile of a 1 MiB copy to 200 hosts (docs/benchmarks.md) put 4% of the client's samples in
// reading the file, 32 KiB at a time once per host, and much of 13% in collecting those buffers.
//
// Bounded: only files up to SHARED_FILE_MAX_BYTES, at most SHARED_TOTAL_MAX_BYTES held at once;
// a larger file, or one beyond the total, is streamed by its upload as before. The bytes are kept
// while an upload uses them and LINGER_MS after the last, and only for the same file unchanged: the
// key is the file's path, device, inode, size and change times, from a stat at each upload (a file
// replaced or written meanwhile is read again). Node's fs has no such cache; the pieces are small.
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** Files up to this size are read once for every upload that overlaps (a 10 GiB file is streamed). */
export const SHARED_FILE_MAX_BYTES = 8 * 1024 * 1024;
/** The most bytes held for all shared files together. */
export const SHARED_TOTAL_MAX_BYTES = 64 * 1024 * 1024;
/** How long a file's bytes stay after its last upload ended (uploads of one fleet start in waves). */
const LINGER_MS = 2000;

interface Entry {
  size: number;
  data: Promise<Buffer | undefined>;
  users: number;
  timer: NodeJS.Timeout | undefined;
}

const entries = new Map<string, Entry>();
let heldBytes = 0;

export interface SharedContent {
  data: Buffer;
  /** Once the upload no longer reads `data`. */
  release(): void;
}

/**
 * The first `size` bytes of `local`, shared with the other uploads of the same unchanged file; or
 * undefined when the file is to be streamed: larger than SHARED_FILE_MAX_BYTES, beyond the total,
 * no longer `size` bytes, or not readable (the streaming read then reports why, as it always has).
 */
export async function sharedContent(local: string, size: number): Promise<SharedContent | undefined> {
  if (size === 0 || size > SHARED_FILE_MAX_BYTES) return undefined;
  const file = path.resolve(local);
  let st;
  try {
    st = await fsp.stat(file, { bigint: true });
  } catch {
    return undefined;
  }
  if (!st.isFile() || st.size !== BigInt(size)) return undefined;
  const key = [file, st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join('\0');
  let entry = entries.get(key);
  if (!entry) {
    if (heldBytes + size > SHARED_TOTAL_MAX_BYTES) return undefined;
    heldBytes += size;
    entry = { size, data: readExactly(file, size), users: 0, timer: undefined };
    entries.set(key, entry);
  }
  const e = entry;
  e.users++;
  if (e.timer) clearTimeout(e.timer);
  e.timer = undefined;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    if (--e.users > 0) return;
    e.timer = setTimeout(() => drop(key, e), LINGER_MS);
    e.timer.unref();
  };
  const data = await e.data;
  if (!data) {
    release();
    drop(key, e);
    return undefined;
  }
  return { data, release };
}

function drop(key: string, e: Entry): void {
  if (entries.get(key) !== e) return;
  if (e.timer) clearTimeout(e.timer);
  entries.delete(key);
  heldBytes -= e.size;
}

/** `size` bytes from the start of the file, or undefined if it has fewer or cannot be read. */
async function readExactly(file: string, size: number): Promise<Buffer | undefined> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, 'r');
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, at, size - at, at);
      if (bytesRead === 0) return undefined;
      at += bytesRead;
    }
    return buf;
  } catch {
    return undefined;
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** How many files and bytes are held now (for tests). */
export function sharedContentHeld(): { files: number; bytes: number } {
  return { files: entries.size, bytes: heldBytes };
}
