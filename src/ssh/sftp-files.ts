// The file and folder steps of a transfer, each request through the transfer's SftpSession: one
// file down (to a temporary name, then renamed; one file up is sftp-put.ts), folders made on the
// host, and the walks of a local or a remote tree.
//
// A remote tree is untrusted input. A name the server lists becomes a local path, so each one must
// be one safe path component (no `/`, `..`, NUL or control character: the scp bug CVE-2019-6111);
// a symbolic link is followed only to a file inside the tree; a listing has a size limit.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Stats } from 'ssh2';
import { unsafeComponent } from '../local/safe-name.js';
import type { SftpSession } from './sftp-session.js';
import type { RejectedEntry, SkippedEntry, TransferOptions } from './sftp-types.js';

/** Entries of a remote tree a download reads at most; past it, the download fails. */
export const MAX_REMOTE_ENTRIES = 1_000_000;

export interface TransferJob {
  host: string;
  session: SftpSession;
  opts: TransferOptions;
  /** Aborts on the transfer's timeout or cancellation. */
  signal: AbortSignal;
  allBytes: number;
  allTotalBytes: number;
  /** Temporary files written and not yet renamed or removed: what a failure must clean up. */
  remoteTemps: Set<string>;
  localTemps: Set<string>;
  rejected: RejectedEntry[];
  skipped: SkippedEntry[];
}

export const tempName = (file: string, posix: boolean) => {
  const p = posix ? path.posix : path;
  return p.join(p.dirname(file), `.${p.basename(file)}.fleetsh-${randomBytes(6).toString('hex')}.tmp`);
};

/** The destination's mode: the one asked for, else the source's (preserve, or a new file), else the file's own. */
export function modeFor(
  asked: TransferOptions['mode'],
  sourceMode: number,
  existingMode: number | undefined,
): number {
  if (typeof asked === 'number') return asked;
  return asked === 'preserve' || existingMode === undefined ? sourceMode : existingMode & 0o7777;
}

export function progress(
  job: TransferJob,
  file: string,
  size: number,
): ((total: number) => void) | undefined {
  const on = job.opts.onProgress;
  if (!on) return undefined;
  const base = job.allBytes;
  return (total) =>
    on({
      path: file,
      bytes: total,
      totalBytes: size,
      allBytes: base + total,
      allTotalBytes: job.allTotalBytes,
    });
}

export async function getFile(
  job: TransferJob,
  remote: string,
  local: string,
  size: number,
  remoteMode: number,
  rel = '',
): Promise<void> {
  const { session, opts } = job;
  const existing = await fsp.stat(local).catch(() => undefined);
  // The server's mode bits are advice: never set-user-ID, set-group-ID or sticky on this machine.
  const mode = modeFor(opts.mode, remoteMode & 0o777, existing?.mode);
  const atomic = opts.atomic !== false;
  const dest = atomic ? tempName(local, false) : local;
  if (atomic) job.localTemps.add(dest);
  await session.call((s, cb) =>
    s.fastGet(remote, dest, { step: progress(job, remote, size), concurrency: 32, chunkSize: 32768 }, cb),
  );
  await fsp.chmod(dest, mode);
  if (job.signal.aborted) throw job.signal.reason;
  await opts.beforeReplace?.(dest, { local, remote, rel, size });
  if (atomic) {
    await fsp.rename(dest, local);
    job.localTemps.delete(dest);
  }
  job.allBytes += size;
}

export async function mkdirRemote(session: SftpSession, dir: string, mode?: number): Promise<void> {
  try {
    await session.call((s, cb) => s.mkdir(dir, mode === undefined ? {} : { mode }, cb));
  } catch (e) {
    const st = await session.call<Stats>((s, cb) => s.stat(dir, cb)).catch(() => undefined);
    if (!st?.isDirectory()) throw e;
  }
}

export async function mkdirsRemote(session: SftpSession, dir: string): Promise<void> {
  const st = await session.call<Stats>((s, cb) => s.stat(dir, cb)).catch(() => undefined);
  if (st?.isDirectory()) return;
  const parent = path.posix.dirname(dir);
  if (parent !== dir) await mkdirsRemote(session, parent);
  await mkdirRemote(session, dir);
}

export interface TreeEntry {
  /** Path below the root, `/`-separated. */
  rel: string;
  dir: boolean;
  size: number;
  mode: number;
}

/**
 * The files and folders under a remote root, in name order. Unsafe names and links out of the tree
 * go to `job.rejected`; special files and links to folders to `job.skipped`.
 */
export async function walkRemote(job: TransferJob, root: string): Promise<TreeEntry[]> {
  const { session } = job;
  const rootReal = await session.call<string>((s, cb) => s.realpath(root, cb));
  const inside = (p: string) => p === rootReal || p.startsWith(rootReal === '/' ? '/' : `${rootReal}/`);
  const out: TreeEntry[] = [];
  let seen = 0;
  const walk = async (rel: string): Promise<void> => {
    const dir = rel ? path.posix.join(root, rel) : root;
    const list = await listRemote(session, dir, MAX_REMOTE_ENTRIES - seen);
    seen += list.length;
    for (const item of list.sort((a, b) => (a.filename < b.filename ? -1 : 1))) {
      const name = item.filename;
      if (name === '.' || name === '..') continue;
      const r = rel ? `${rel}/${name}` : name;
      const remotePath = path.posix.join(dir, name);
      const unsafe = unsafeComponent(name);
      if (unsafe) {
        job.rejected.push({ path: `${dir}/${name}`, reason: `unsafe as a local file name: ${unsafe}` });
        continue;
      }
      let st = item.attrs;
      if (st.isSymbolicLink()) {
        const to = await session.call<string>((s, cb) => s.realpath(remotePath, cb)).catch(() => undefined);
        if (to === undefined) {
          job.skipped.push({ path: remotePath, reason: 'a symbolic link that does not resolve' });
          continue;
        }
        if (!inside(to)) {
          job.rejected.push({ path: remotePath, reason: `a symbolic link out of the tree (to ${to})` });
          continue;
        }
        const target = await session.call<Stats>((s, cb) => s.stat(remotePath, cb)).catch(() => undefined);
        if (!target?.isFile()) {
          job.skipped.push({ path: remotePath, reason: 'a symbolic link to a folder (not followed)' });
          continue;
        }
        st = target;
      }
      if (st.isDirectory()) {
        out.push({ rel: r, dir: true, size: 0, mode: st.mode & 0o7777 });
        await walk(r);
      } else if (st.isFile()) out.push({ rel: r, dir: false, size: st.size, mode: st.mode & 0o7777 });
      else job.skipped.push({ path: remotePath, reason: 'not a regular file or folder' });
    }
  };
  await walk('');
  return out;
}

type Listing = Array<{ filename: string; attrs: Stats }>;

/** One folder's listing, read a reply at a time so that a server that never ends it is cut off. */
async function listRemote(session: SftpSession, dir: string, max: number): Promise<Listing> {
  const handle = await session.call<Buffer>((s, cb) => s.opendir(dir, cb));
  const out: Listing = [];
  try {
    for (;;) {
      const batch = await session
        .call<Listing | false>((s, cb) =>
          (s.readdir as (h: Buffer, o: object, c: typeof cb) => void)(handle, { full: true }, cb),
        )
        .catch((e: { code?: number }) => {
          if (e?.code === 1) return false as const; // SSH_FX_EOF: the end of the listing
          throw e;
        });
      if (!batch) return out;
      out.push(...batch);
      if (out.length > max)
        throw new Error(
          `${dir} lists more than ${MAX_REMOTE_ENTRIES} entries in all; the download stops there`,
        );
    }
  } finally {
    await session.call((s, cb) => s.close(handle, cb)).catch(() => {});
  }
}
