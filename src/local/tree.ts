// A folder on this machine as a list of entries to copy: folders before what they hold, names in
// order, symbolic links followed (as `scp -r` and `cp -rL` do), other special files left out, and
// each mode as it is on disk, set-user-ID, set-group-ID and sticky bits included. Every upload of a
// tree walks it here, so they all agree on what a tree holds and on its modes.
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface LocalEntry {
  /** The path below the root, with this system's separators. */
  rel: string;
  dir: boolean;
  /** Bytes, for a file. */
  size: number;
  /** Permission bits, 0o7777 of st_mode. */
  mode: number;
}

/** The mode bits a copy takes from its source. */
export const modeBits = (st: { mode: number }) => st.mode & 0o7777;

export async function walkLocal(root: string, rel = ''): Promise<LocalEntry[]> {
  const out: LocalEntry[] = [];
  for (const name of (await fsp.readdir(path.join(root, rel))).sort()) {
    const r = rel ? path.join(rel, name) : name;
    const st = await fsp.stat(path.join(root, r)); // follows symbolic links
    if (st.isDirectory()) {
      out.push({ rel: r, dir: true, size: 0, mode: modeBits(st) });
      out.push(...(await walkLocal(root, r)));
    } else if (st.isFile()) out.push({ rel: r, dir: false, size: st.size, mode: modeBits(st) });
  }
  return out;
}
