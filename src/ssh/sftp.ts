// File transfer over SFTP on the target's pooled connection. Uploads replace atomically: the file is
// written under a temporary name beside the destination, given its mode, then renamed over it
// (posix-rename@openssh.com), so a reader never sees half a file. Downloads do the same locally.
// An SFTP session is a session channel and counts against the connection's channel cap.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { SFTPWrapper, Stats } from 'ssh2';
import { parseDuration, type Duration } from '../process/duration.js';
import { FleetshError, formatMs } from '../process/errors.js';
import type { SshExecutor } from './ssh-executor.js';

export interface TransferProgress {
  /** The file being transferred (remote path for uploads, remote path for downloads). */
  path: string;
  /** Bytes of this file done, and its size. */
  bytes: number;
  totalBytes: number;
  /** For directories: bytes of all files done so far, and in all. */
  allBytes: number;
  allTotalBytes: number;
}

export interface TransferOptions {
  /**
   * Mode of the written file: a number (0o644) or 'preserve' (the source's mode). Default: an
   * existing destination keeps its mode (and, when allowed, its owner); a new one gets the source's mode.
   */
  mode?: number | 'preserve';
  /** Create missing parent directories of the destination (default false; true for directories). */
  mkdirs?: boolean;
  /** Write to a temporary name and rename over the destination (default true). */
  atomic?: boolean;
  onProgress?: (progress: TransferProgress) => void;
  /** Give up (and remove the partial temporary file) after this long. */
  timeout?: Duration;
  signal?: AbortSignal;
}

export interface TransferResult {
  files: number;
  bytes: number;
  durationMs: number;
}

export interface SshTransfers {
  uploadFile(local: string, remote: string, options?: TransferOptions): Promise<TransferResult>;
  downloadFile(remote: string, local: string, options?: TransferOptions): Promise<TransferResult>;
  uploadDirectory(local: string, remote: string, options?: TransferOptions): Promise<TransferResult>;
  downloadDirectory(remote: string, local: string, options?: TransferOptions): Promise<TransferResult>;
}

/** A file transfer failed: names the host, the direction and both paths. */
export class TransferError extends FleetshError {
  readonly localPath: string;
  readonly remotePath: string;
  constructor(
    kind: 'failed' | 'timeout' | 'cancelled',
    host: string,
    message: string,
    local: string,
    remote: string,
    cause?: unknown,
  ) {
    super(kind, `${host}: ${message}`, { host, cause });
    this.localPath = local;
    this.remotePath = remote;
  }
}

const SFTP_CODES: Record<number, string> = {
  2: 'no such file or directory',
  3: 'permission denied',
  4: 'failure',
};

function describe(e: unknown): string {
  const err = e as { code?: number | string; message?: string };
  if (typeof err?.code === 'number' && SFTP_CODES[err.code]) {
    return err.message && !/^failure$/i.test(err.message) ? err.message.toLowerCase() : SFTP_CODES[err.code]!;
  }
  return String(err?.message ?? e);
}

function p<T>(fn: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));
}

const remoteDirname = (remote: string) => path.posix.dirname(remote);
const tempName = (file: string, posix: boolean) => {
  const dir = posix ? path.posix.dirname(file) : path.dirname(file);
  const base = posix ? path.posix.basename(file) : path.basename(file);
  const name = `.${base}.fleetsh-${randomBytes(6).toString('hex')}.tmp`;
  return posix ? path.posix.join(dir, name) : path.join(dir, name);
};

interface Job {
  host: string;
  sftp: SFTPWrapper;
  opts: TransferOptions;
  deadline: AbortSignal;
  allBytes: number;
  allTotalBytes: number;
  /** The remote temporary file being written, to remove if the session is cut. */
  remoteTemp?: string;
}

export function makeTransfers(executor: SshExecutor): SshTransfers {
  /** Runs `work` with an SFTP session, the connection held, a timeout and cancellation. */
  const withSftp = async (
    what: string,
    local: string,
    remote: string,
    opts: TransferOptions,
    work: (job: Job) => Promise<TransferResult>,
  ): Promise<TransferResult> => {
    const host = executor.host;
    const timeoutMs = opts.timeout === undefined ? undefined : parseDuration(opts.timeout, 'timeout', host);
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal!.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            controller.abort(new Error('timeout'));
          }, timeoutMs);
    const conn = await executor.connection(controller.signal).catch((e) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      throw abortedError(e);
    });
    const hold = conn.hold();
    let session: { sftp: SFTPWrapper; release: () => void } | undefined;
    let job: Job | undefined;
    function abortedError(e: unknown): unknown {
      if (timedOut)
        return new TransferError(
          'timeout',
          host,
          `${what} timed out after ${formatMs(timeoutMs!)}`,
          local,
          remote,
          e,
        );
      if (controller.signal.aborted)
        return new TransferError('cancelled', host, `${what} was cancelled`, local, remote, e);
      return e;
    }
    try {
      session = await conn.sftp({ signal: controller.signal });
      const sftp = session.sftp;
      const onDeadline = () => sftp.end();
      if (controller.signal.aborted) throw new Error('aborted');
      controller.signal.addEventListener('abort', onDeadline, { once: true });
      const started = performance.now();
      job = { host, sftp, opts, deadline: controller.signal, allBytes: 0, allTotalBytes: 0 };
      const result = await work(job);
      controller.signal.removeEventListener('abort', onDeadline);
      if (controller.signal.aborted) throw new Error('aborted');
      return { ...result, durationMs: Math.round(performance.now() - started) };
    } catch (e) {
      // A session cut by the timeout could not remove its temporary file: do it on a fresh one.
      const temp = job?.remoteTemp;
      if (temp && controller.signal.aborted) {
        void conn
          .sftp()
          .then(({ sftp, release }) => {
            sftp.once('close', release);
            sftp.unlink(temp, () => sftp.end());
          })
          .catch(() => {});
      }
      const a = abortedError(e);
      if (a !== e || e instanceof FleetshError) throw a;
      throw new TransferError('failed', host, `${what} failed: ${describe(e)}`, local, remote, e);
    } finally {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (session) {
        const s = session;
        s.sftp.once('close', () => s.release());
        s.sftp.end();
      }
      hold();
    }
  };

  return {
    uploadFile: (local, remote, opts = {}) =>
      withSftp(`upload of ${local} to ${remote}`, local, remote, opts, async (job) => {
        const st = await fsp.stat(local);
        job.allTotalBytes = st.size;
        if (opts.mkdirs) await mkdirsRemote(job.sftp, remoteDirname(remote));
        await putFile(job, local, remote, st.size, st.mode & 0o7777);
        return { files: 1, bytes: st.size, durationMs: 0 };
      }),
    downloadFile: (remote, local, opts = {}) =>
      withSftp(`download of ${remote} to ${local}`, local, remote, opts, async (job) => {
        const st = await p<Stats>((cb) => job.sftp.stat(remote, cb));
        job.allTotalBytes = st.size;
        if (opts.mkdirs) await fsp.mkdir(path.dirname(local), { recursive: true });
        await getFile(job, remote, local, st.size, st.mode & 0o7777);
        return { files: 1, bytes: st.size, durationMs: 0 };
      }),
    uploadDirectory: (local, remote, opts = {}) =>
      withSftp(`upload of directory ${local} to ${remote}`, local, remote, opts, async (job) => {
        const entries = await walkLocal(local);
        job.allTotalBytes = entries.reduce((n, e) => n + (e.dir ? 0 : e.size), 0);
        if (opts.mkdirs !== false) await mkdirsRemote(job.sftp, remoteDirname(remote));
        await mkdirRemote(job.sftp, remote, (await fsp.stat(local)).mode & 0o7777);
        let files = 0;
        for (const e of entries) {
          const target = path.posix.join(remote, ...e.rel.split(path.sep));
          if (e.dir) await mkdirRemote(job.sftp, target, e.mode);
          else {
            await putFile(job, path.join(local, e.rel), target, e.size, e.mode);
            files++;
          }
        }
        return { files, bytes: job.allTotalBytes, durationMs: 0 };
      }),
    downloadDirectory: (remote, local, opts = {}) =>
      withSftp(`download of directory ${remote} to ${local}`, local, remote, opts, async (job) => {
        const entries = await walkRemote(job.sftp, remote);
        job.allTotalBytes = entries.reduce((n, e) => n + (e.dir ? 0 : e.size), 0);
        await fsp.mkdir(local, { recursive: true });
        let files = 0;
        for (const e of entries) {
          const target = path.join(local, ...e.rel.split('/'));
          if (e.dir) await fsp.mkdir(target, { recursive: true, mode: e.mode });
          else {
            await getFile(job, path.posix.join(remote, e.rel), target, e.size, e.mode);
            files++;
          }
        }
        return { files, bytes: job.allTotalBytes, durationMs: 0 };
      }),
  };
}

function progress(
  job: Job,
  file: string,
  size: number,
): ((total: number, nb: number, fsize: number) => void) | undefined {
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

async function putFile(
  job: Job,
  local: string,
  remote: string,
  size: number,
  localMode: number,
): Promise<void> {
  const { sftp, opts } = job;
  const existing = await p<Stats>((cb) => sftp.stat(remote, cb)).catch(() => undefined);
  const mode = modeFor(opts.mode, localMode, existing?.mode);
  const atomic = opts.atomic !== false;
  const dest = atomic ? tempName(remote, true) : remote;
  if (atomic) job.remoteTemp = dest;
  try {
    await p((cb) =>
      sftp.fastPut(
        local,
        dest,
        { step: progress(job, remote, size), mode, concurrency: 32, chunkSize: 32768 },
        cb,
      ),
    );
    await p((cb) => sftp.chmod(dest, mode, cb));
    if (existing && opts.mode === undefined)
      await p((cb) => sftp.chown(dest, existing.uid, existing.gid, cb)).catch(() => {});
    // Past the deadline, the temporary file must not replace the destination.
    if (job.deadline.aborted) throw new Error('aborted');
    if (atomic) await p((cb) => sftp.ext_openssh_rename(dest, remote, cb));
    job.remoteTemp = undefined;
  } catch (e) {
    if (atomic) await p((cb) => sftp.unlink(dest, cb)).catch(() => {});
    throw e;
  }
  job.allBytes += size;
  if (size === 0)
    job.opts.onProgress?.({
      path: remote,
      bytes: 0,
      totalBytes: 0,
      allBytes: job.allBytes,
      allTotalBytes: job.allTotalBytes,
    });
}

/** The destination's mode: the one asked for, else the source's (preserve, or a new file), else the file's own. */
function modeFor(
  asked: TransferOptions['mode'],
  sourceMode: number,
  existingMode: number | undefined,
): number {
  if (typeof asked === 'number') return asked;
  return asked === 'preserve' || existingMode === undefined ? sourceMode : existingMode & 0o7777;
}

async function getFile(
  job: Job,
  remote: string,
  local: string,
  size: number,
  remoteMode: number,
): Promise<void> {
  const { sftp, opts } = job;
  const existing = await fsp.stat(local).catch(() => undefined);
  const mode = modeFor(opts.mode, remoteMode, existing?.mode);
  const atomic = opts.atomic !== false;
  const dest = atomic ? tempName(local, false) : local;
  try {
    await p((cb) =>
      sftp.fastGet(
        remote,
        dest,
        { step: progress(job, remote, size), concurrency: 32, chunkSize: 32768 },
        cb,
      ),
    );
    await fsp.chmod(dest, mode);
    if (job.deadline.aborted) throw new Error('aborted');
    if (atomic) await fsp.rename(dest, local);
  } catch (e) {
    if (atomic) await fsp.rm(dest, { force: true }).catch(() => {});
    throw e;
  }
  job.allBytes += size;
}

async function mkdirRemote(sftp: SFTPWrapper, dir: string, mode?: number): Promise<void> {
  try {
    await p((cb) => sftp.mkdir(dir, mode === undefined ? {} : { mode }, cb));
  } catch (e) {
    const st = await p<Stats>((cb) => sftp.stat(dir, cb)).catch(() => undefined);
    if (!st?.isDirectory()) throw e;
  }
}

async function mkdirsRemote(sftp: SFTPWrapper, dir: string): Promise<void> {
  const st = await p<Stats>((cb) => sftp.stat(dir, cb)).catch(() => undefined);
  if (st?.isDirectory()) return;
  const parent = path.posix.dirname(dir);
  if (parent !== dir) await mkdirsRemote(sftp, parent);
  await mkdirRemote(sftp, dir);
}

interface Entry {
  rel: string;
  dir: boolean;
  size: number;
  mode: number;
}

async function walkLocal(root: string, rel = ''): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const name of (await fsp.readdir(path.join(root, rel))).sort()) {
    const r = rel ? path.join(rel, name) : name;
    const st = await fsp.stat(path.join(root, r)); // follows symlinks
    if (st.isDirectory()) {
      out.push({ rel: r, dir: true, size: 0, mode: st.mode & 0o7777 });
      out.push(...(await walkLocal(root, r)));
    } else if (st.isFile()) out.push({ rel: r, dir: false, size: st.size, mode: st.mode & 0o7777 });
  }
  return out;
}

async function walkRemote(sftp: SFTPWrapper, root: string, rel = ''): Promise<Entry[]> {
  const out: Entry[] = [];
  const dir = rel ? path.posix.join(root, rel) : root;
  const list = await p<Array<{ filename: string; attrs: Stats }>>((cb) => sftp.readdir(dir, cb as never));
  for (const item of list.sort((a, b) => (a.filename < b.filename ? -1 : 1))) {
    if (item.filename === '.' || item.filename === '..') continue;
    const r = rel ? `${rel}/${item.filename}` : item.filename;
    let st = item.attrs;
    if (st.isSymbolicLink())
      st = await p<Stats>((cb) => sftp.stat(path.posix.join(root, r), cb)).catch(() => st);
    if (st.isDirectory()) {
      out.push({ rel: r, dir: true, size: 0, mode: st.mode & 0o7777 });
      out.push(...(await walkRemote(sftp, root, r)));
    } else if (st.isFile()) out.push({ rel: r, dir: false, size: st.size, mode: st.mode & 0o7777 });
  }
  return out;
}
