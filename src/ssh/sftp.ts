// File transfer over SFTP on the target's pooled connection. Uploads replace atomically: the file is
// written under a temporary name beside the destination, given its mode, flushed to disk
// (fsync@openssh.com), then renamed over it (posix-rename@openssh.com), so a reader never sees half
// a file, even after a crash of the host (sftp-put.ts). Downloads do the same locally.
// An SFTP session is a session channel and counts against the connection's channel cap.
//
// Every transfer ends: each request goes through an SftpSession (which settles even when the server
// stops answering). A transfer that failed removes its temporary files before it rejects, on a
// fresh session once the old one has closed (at most CLOSE_WAIT_MS), within CLEANUP_TIMEOUT_MS.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Stats } from 'ssh2';
import { parseDuration } from '../process/duration.js';
import { FleetshError, formatMs } from '../process/errors.js';
import { printable } from '../process/printable.js';
import { showName } from '../local/safe-name.js';
import { modeBits, walkLocal } from '../local/tree.js';
import { SftpSession } from './sftp-session.js';
import { getFile, mkdirRemote, mkdirsRemote, walkRemote, type TransferJob } from './sftp-files.js';
import { putFile } from './sftp-put.js';
import type { SshExecutor } from './ssh-executor.js';
import type { Release } from './semaphore.js';
import type { SFTPWrapper } from 'ssh2';

import type { RejectedEntry, TransferOptions, TransferResult } from './sftp-types.js';

export type {
  RejectedEntry,
  SkippedEntry,
  TransferFile,
  TransferOptions,
  TransferProgress,
  TransferResult,
} from './sftp-types.js';

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
  /** Entries a directory download refused (each named in the message). */
  readonly rejected: RejectedEntry[];
  /** What was transferred before the failure, for a directory download that refused entries. */
  readonly result: TransferResult | undefined;
  constructor(
    kind: 'failed' | 'timeout' | 'cancelled',
    host: string,
    message: string,
    local: string,
    remote: string,
    options: { cause?: unknown; rejected?: RejectedEntry[]; result?: TransferResult } = {},
  ) {
    super(kind, `${host}: ${message}`, { host, cause: options.cause });
    this.localPath = local;
    this.remotePath = remote;
    this.rejected = options.rejected ?? [];
    this.result = options.result;
  }
}

/** How long a failed transfer may spend removing its temporary files. */
const CLEANUP_TIMEOUT_MS = 5000;

const SFTP_CODES: Record<number, string> = {
  2: 'no such file or directory',
  3: 'permission denied',
  4: 'failure',
};

/** An SFTP failure in words; the server's own status message is its text, so it is shown escaped. */
function describe(e: unknown): string {
  const err = e as { code?: number | string; message?: string };
  if (typeof err?.code === 'number' && SFTP_CODES[err.code]) {
    return err.message && !/^failure$/i.test(err.message)
      ? printable(err.message.toLowerCase())
      : SFTP_CODES[err.code]!;
  }
  return printable(String(err?.message ?? e));
}

const remoteDirname = (remote: string) => path.posix.dirname(remote);

/**
 * Where a transfer's SFTP sessions come from: a transport's way to one host. The ssh2 transport
 * opens a channel on its pooled connection; the OpenSSH transport runs `ssh -s ... sftp` through its
 * ControlMaster (sftp-stdio.ts). The transfer itself (sftp-put.ts, sftp-files.ts) is the same.
 */
export interface SftpSource {
  readonly host: string;
  /** Opens one session: waits for the connection and a channel slot, within the signal. */
  open(signal: AbortSignal): Promise<OpenedSftp>;
}

export interface OpenedSftp {
  sftp: SFTPWrapper;
  /** Called once the session has closed: gives back what it took (a channel slot, a process). */
  release: Release;
  /** The server did not acknowledge the session's close: end what carries it. */
  retire(reason: string): void;
  /** The transfer is over: the connection may go idle. */
  done(): void;
  /** Takes back a sound session for the next transfer (its release is then the taker's), if the source keeps them. */
  keep?(sftp: SFTPWrapper, release: Release): void;
}

/** The ssh2 transport's sessions: a channel on the target's pooled connection, held while in use. */
export function executorSftp(executor: SshExecutor): SftpSource {
  return {
    host: executor.host,
    open: async (signal) => {
      const conn = await executor.connection(signal);
      const done = conn.hold();
      try {
        const { sftp, release } = await conn.sftp({ signal });
        return {
          sftp,
          release,
          retire: (reason) => conn.retire(reason),
          done,
          keep: (kept, keptRelease) => conn.keepSftp(kept, keptRelease),
        };
      } catch (e) {
        done();
        throw e;
      }
    },
  };
}

export function makeTransfers(executor: SshExecutor): SshTransfers {
  return transfersOver(executorSftp(executor));
}

/** Uploads and downloads through any transport's SFTP sessions. */
export function transfersOver(source: SftpSource): SshTransfers {
  /** Runs `work` with an SFTP session, the connection held, a timeout and cancellation. */
  const withSftp = async (
    what: string,
    local: string,
    remote: string,
    opts: TransferOptions,
    work: (job: TransferJob) => Promise<Omit<TransferResult, 'durationMs'>>,
  ): Promise<TransferResult> => {
    const host = source.host;
    const timeoutMs = opts.timeout === undefined ? undefined : parseDuration(opts.timeout, 'timeout', host);
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal!.reason);
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            controller.abort(new Error('timeout'));
          }, timeoutMs);
    const started = performance.now();
    const job: TransferJob = {
      host,
      session: undefined as unknown as SftpSession,
      opts,
      signal: controller.signal,
      allBytes: 0,
      allTotalBytes: 0,
      remoteTemps: new Set(),
      localTemps: new Set(),
      rejected: [],
      skipped: [],
    };
    let hold: (() => void) | undefined;
    let opened: OpenedSftp | undefined;
    try {
      opened = await source.open(controller.signal);
      hold = opened.done;
      job.session = new SftpSession(opened.sftp, opened.release, opened.retire, controller.signal);
      const result = await work(job);
      if (controller.signal.aborted) throw controller.signal.reason;
      // A session that served a whole transfer cleanly serves the next one to this host (a warm copy
      // is then OPEN, WRITEs, fsync, CLOSE, rename); one that failed in any way is closed below.
      if (opened.keep && !job.rejected.length) {
        const release = job.session.detach();
        if (release) opened.keep(opened.sftp, release);
      }
      const done: TransferResult = { ...result, durationMs: Math.round(performance.now() - started) };
      if (job.skipped.length) done.skipped = job.skipped;
      if (job.rejected.length) {
        const list = job.rejected.map((r) => `${showName(r.path)} (${r.reason})`).join('; ');
        throw new TransferError(
          'failed',
          host,
          `${what}: ${job.rejected.length} entr${job.rejected.length === 1 ? 'y was' : 'ies were'} refused, the rest was copied: ${list}`,
          local,
          remote,
          { rejected: job.rejected, result: done },
        );
      }
      return done;
    } catch (e) {
      job.session?.close();
      const left = await removeTemps(source, job);
      const note = left ? `; ${left}` : '';
      if (timedOut)
        throw new TransferError(
          'timeout',
          host,
          `${what} timed out after ${formatMs(timeoutMs!)}${note}`,
          local,
          remote,
          {
            cause: e,
          },
        );
      if (controller.signal.aborted)
        throw new TransferError('cancelled', host, `${what} was cancelled${note}`, local, remote, {
          cause: e,
        });
      if (e instanceof FleetshError && !note) throw e;
      throw new TransferError(
        'failed',
        host,
        `${what} failed: ${e instanceof FleetshError ? e.message.replace(`${host}: `, '') : describe(e)}${note}`,
        local,
        remote,
        { cause: e },
      );
    } finally {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      job.session?.close();
      hold?.();
    }
  };

  return {
    uploadFile: (local, remote, opts = {}) =>
      withSftp(`upload of ${local} to ${remote}`, local, remote, opts, async (job) => {
        const st = await fsp.stat(local);
        job.allTotalBytes = st.size;
        // Missing folders (with mkdirs) are made when the open of the file finds them missing.
        await putFile(job, local, remote, st.size, modeBits(st));
        return { files: 1, bytes: st.size };
      }),
    downloadFile: (remote, local, opts = {}) =>
      withSftp(`download of ${remote} to ${local}`, local, remote, opts, async (job) => {
        const st = await job.session.call<Stats>((s, cb) => s.stat(remote, cb));
        if (!st.isFile()) throw new Error(`${remote} is not a regular file`);
        job.allTotalBytes = st.size;
        if (opts.mkdirs) await fsp.mkdir(path.dirname(local), { recursive: true });
        await getFile(job, remote, local, st.size, st.mode);
        return { files: 1, bytes: st.size };
      }),
    uploadDirectory: (local, remote, opts = {}) =>
      withSftp(`upload of directory ${local} to ${remote}`, local, remote, opts, async (job) => {
        const entries = await walkLocal(local);
        job.allTotalBytes = entries.reduce((n, e) => n + (e.dir ? 0 : e.size), 0);
        const target = (rel: string) => path.posix.join(remote, ...rel.split(path.sep));
        await opts.beforeFiles?.(
          entries
            .filter((e) => !e.dir)
            .map((e) => ({
              local: path.join(local, e.rel),
              remote: target(e.rel),
              rel: e.rel.split(path.sep).join('/'),
              size: e.size,
            })),
        );
        if (opts.mkdirs !== false) await mkdirsRemote(job.session, remoteDirname(remote));
        await mkdirRemote(job.session, remote, modeBits(await fsp.stat(local)));
        let files = 0;
        for (const e of entries) {
          if (e.dir) await mkdirRemote(job.session, target(e.rel), e.mode);
          else {
            const rel = e.rel.split(path.sep).join('/');
            await putFile(job, path.join(local, e.rel), target(e.rel), e.size, e.mode, rel);
            files++;
          }
        }
        return { files, bytes: job.allTotalBytes };
      }),
    downloadDirectory: (remote, local, opts = {}) =>
      withSftp(`download of directory ${remote} to ${local}`, local, remote, opts, async (job) => {
        const entries = await walkRemote(job, remote);
        job.allTotalBytes = entries.reduce((n, e) => n + (e.dir ? 0 : e.size), 0);
        // Every component of e.rel was checked by walkRemote: the target stays under `local`.
        const target = (rel: string) => path.join(local, ...rel.split('/'));
        await opts.beforeFiles?.(
          entries
            .filter((e) => !e.dir)
            .map((e) => ({
              local: target(e.rel),
              remote: path.posix.join(remote, e.rel),
              rel: e.rel,
              size: e.size,
            })),
        );
        await fsp.mkdir(local, { recursive: true });
        let files = 0;
        for (const e of entries) {
          if (e.dir) await fsp.mkdir(target(e.rel), { recursive: true, mode: (e.mode & 0o777) | 0o700 });
          else {
            await getFile(job, path.posix.join(remote, e.rel), target(e.rel), e.size, e.mode, e.rel);
            files++;
          }
        }
        return { files, bytes: job.allTotalBytes };
      }),
  };
}

/**
 * Removes what a failed transfer left: remote temporary files on a fresh SFTP session (the old one
 * may be what failed; the pool gives a new connection if that one was retired), local ones at once
 * and again once ssh2 has let go of them. Returns what could not be removed, in words.
 */
async function removeTemps(source: SftpSource, job: TransferJob): Promise<string | undefined> {
  for (const t of job.localTemps) {
    await fsp.rm(t, { force: true }).catch(() => {});
    // A late answer from the server could still create it: remove it again once ssh2 is done.
    void job.session?.settled().then(() => fsp.rm(t, { force: true }).catch(() => {}));
  }
  const temps = [...job.remoteTemps];
  if (temps.length === 0) return undefined;
  // Not on the connection of a session the server may have stopped answering: once that session
  // has closed, or the connection was retired for want of an answer, the pool's connection is sound.
  await job.session?.closed();
  const bound = AbortSignal.timeout(CLEANUP_TIMEOUT_MS);
  let hold: (() => void) | undefined;
  let session: SftpSession | undefined;
  try {
    const opened = await source.open(bound);
    hold = opened.done;
    session = new SftpSession(opened.sftp, opened.release, opened.retire, bound);
    for (const t of temps) {
      await session
        .call((s, cb) => s.unlink(t, cb))
        .catch((e: { code?: number }) => {
          if (e?.code !== 2) throw e; // never created: nothing to remove
        });
      job.remoteTemps.delete(t);
    }
    return undefined;
  } catch (e) {
    const why = bound.aborted ? `no answer within ${formatMs(CLEANUP_TIMEOUT_MS)}` : describe(e);
    const files = [...job.remoteTemps].join(', ');
    return `the temporary file${job.remoteTemps.size === 1 ? '' : 's'} ${files} could not be removed (${why})`;
  } finally {
    session?.close();
    hold?.();
  }
}
