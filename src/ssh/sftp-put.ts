// One file up, on the transfer's one SFTP session and nothing else (no command on the host): open a
// temporary name beside the destination, write the data with many WRITE requests in flight and,
// right behind the last one, owner, mode, fsync (fsync@openssh.com, when the server offers it) and
// close; once all are answered, the rename over the destination (posix-rename@openssh.com, else a
// plain RENAME with a move-aside fallback). Missing folders are made only when the open says they
// are missing. Measured on a loaded 2-core machine (load 30), each round trip to a local sshd cost
// 100-250 ms, which is why requests are sent together wherever the protocol allows it.
//
// Not ssh2's fastPut: it closes the file before an fsync could be asked, keeps reading and writing
// after the transfer gave up on it (its requests are not the SftpSession's, so they do not settle
// with it), and can call back twice on an error. Here every request goes through the SftpSession.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Stats } from 'ssh2';
import type { SftpSession } from './sftp-session.js';
import { mkdirsRemote, modeFor, progress, tempName, type TransferJob } from './sftp-files.js';
import { sharedContent } from './upload-source.js';

/**
 * Bytes a WRITE request carries, and how many are in flight at once: OpenSSH's sftp client's own
 * defaults (32 KiB, 64 requests), so a transfer keeps 2 MiB moving whatever the round-trip time.
 */
const WRITE_CHUNK = 32 * 1024;
const WRITES_IN_FLIGHT = 64;

const NO_SUCH_FILE = 2;

/** What a server may offer beyond the base protocol (its VERSION message names them). */
const FSYNC = 'fsync@openssh.com';
const POSIX_RENAME = 'posix-rename@openssh.com';

export async function putFile(
  job: TransferJob,
  local: string,
  remote: string,
  size: number,
  localMode: number,
  rel = '',
): Promise<void> {
  const { session, opts } = job;
  const atomic = opts.atomic !== false;
  const dest = atomic ? tempName(remote, true) : remote;
  // Only the default mode needs the destination's own mode and owner: asked beside the open.
  const existing =
    opts.mode === undefined
      ? session.call<Stats>((s, cb) => s.stat(remote, cb)).catch(() => undefined)
      : Promise.resolve(undefined);
  if (atomic) job.remoteTemps.add(dest);
  try {
    const handle = await openForWrite(job, dest, atomic);
    const st = await existing;
    const mode = modeFor(opts.mode, localMode, st?.mode);
    const owner = st && opts.mode === undefined ? st : undefined;
    // writeData closes the handle whatever happens (once: a failed close is not retried).
    await writeData(job, handle, local, size, progress(job, remote, size), () =>
      finish(job, handle, owner, mode),
    );
    // Past the deadline, the temporary file must not replace the destination.
    if (job.signal.aborted) throw job.signal.reason;
    await opts.beforeReplace?.(dest, { local, remote, rel, size });
    if (atomic) {
      await replace(job, dest, remote);
      job.remoteTemps.delete(dest);
    }
  } catch (e) {
    // On a live session the temporary file goes now; otherwise the transfer removes it on a fresh one.
    if (atomic && !job.signal.aborted)
      await session
        .call((s, cb) => s.unlink(dest, cb))
        .then(
          () => job.remoteTemps.delete(dest),
          () => {},
        );
    throw e;
  }
  job.allBytes += size;
  if (size === 0)
    opts.onProgress?.({
      path: remote,
      bytes: 0,
      totalBytes: 0,
      allBytes: job.allBytes,
      allTotalBytes: job.allTotalBytes,
    });
}

/**
 * Opens the file to write: a temporary name is created new (never an existing file or a link a
 * third party left there), readable by its owner only until its mode is set after the data. Missing
 * folders are made (with `mkdirs`) only when the open fails for want of them: one request when they
 * exist, as they mostly do.
 */
async function openForWrite(job: TransferJob, file: string, temporary: boolean): Promise<Buffer> {
  const open = () =>
    job.session.call<Buffer>((s, cb) =>
      temporary ? s.open(file, 'wx', { mode: 0o600 }, cb) : s.open(file, 'w', cb),
    );
  try {
    return await open();
  } catch (e) {
    if (!job.opts.mkdirs || (e as { code?: unknown })?.code !== NO_SUCH_FILE) throw e;
    await mkdirsRemote(job.session, path.posix.dirname(file));
    return open();
  }
}

/**
 * The file's bytes, WRITES_IN_FLIGHT requests at a time, then `finish`'s requests, sent as soon as
 * the last WRITE is (not once it is answered: the server handles one file's requests in order, so
 * they see every write, and the file costs one round trip less). A request that fails stops the
 * others from starting, and the handle is then only closed; each request sent settles with the
 * session (answer, end or abort), so this ends when the transfer does. Only `size` bytes go (the
 * size when the transfer started); a file that shrank meanwhile is an error.
 */
async function writeData(
  job: TransferJob,
  handle: Buffer,
  local: string,
  size: number,
  onBytes: ((total: number) => void) | undefined,
  finish: () => Array<Promise<unknown>>,
): Promise<void> {
  // Every request whole: a split one would send its rest after the requests that must follow it.
  const chunk = Math.min(WRITE_CHUNK, job.session.maxWrite());
  const chunks = Math.ceil(size / chunk);
  // Settled at once: a request that fails while writes are still out must not go unhandled.
  const settle = (steps: Array<Promise<unknown>>) => Promise.allSettled(steps);
  let finishing = chunks === 0 ? settle(finish()) : undefined;
  // A small file's bytes are read once for every host (upload-source.ts); a larger one is streamed.
  const shared = chunks > 0 ? await sharedContent(local, size) : undefined;
  let file: fsp.FileHandle | undefined;
  if (chunks > 0 && !shared) {
    try {
      file = await fsp.open(local, 'r');
    } catch (e) {
      await job.session.call((s, cb) => s.close(handle, cb)).catch(() => {});
      throw e;
    }
  }
  let next = 0;
  let issued = 0;
  let written = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    // ssh2 copies the data into its packet at once: the buffer is free again once the request is sent.
    const buf = shared ? undefined : Buffer.allocUnsafe(Math.min(chunk, size));
    while (failure === undefined && next < size && !job.signal.aborted) {
      const at = next;
      const len = Math.min(chunk, size - at);
      next += len;
      if (buf) {
        const { bytesRead } = await file!.read(buf, 0, len, at);
        if (bytesRead !== len) throw new Error(`${local} became shorter while it was being copied`);
        if (failure !== undefined) return;
      }
      const sent = buf
        ? job.session.call((s, cb) => s.write(handle, buf, 0, len, at, cb))
        : job.session.call((s, cb) => s.write(handle, shared!.data, at, len, at, cb));
      if (++issued === chunks) finishing = settle(finish());
      await sent;
      written += len;
      onBytes?.(written);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(WRITES_IN_FLIGHT, chunks) }, () =>
        worker().catch((error: unknown) => void (failure ??= { error })),
      ),
    );
  } finally {
    shared?.release();
    await file?.close().catch(() => {});
  }
  finishing ??= settle([job.session.call((s, cb) => s.close(handle, cb))]);
  const ends = await finishing;
  if (failure) throw failure.error;
  if (job.signal.aborted) throw job.signal.reason;
  const failed = ends.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Owner (to keep an existing destination's), mode, fsync and close, sent together: a server answers
 * the requests of one handle in order, and any of them failing fails the file (a failed change of
 * owner aside, as before). The owner goes first, as a change of owner clears the set-user-ID bit
 * that the mode then sets.
 */
function finish(job: TransferJob, handle: Buffer, owner: Stats | undefined, mode: number) {
  const { session } = job;
  const steps: Array<Promise<unknown>> = [];
  if (owner) steps.push(session.call((s, cb) => s.fchown(handle, owner.uid, owner.gid, cb)).catch(() => {}));
  steps.push(session.call((s, cb) => s.fchmod(handle, mode, cb)));
  if (session.supports(FSYNC)) steps.push(session.call((s, cb) => s.ext_openssh_fsync(handle, cb)));
  steps.push(session.call((s, cb) => s.close(handle, cb)));
  return steps;
}

/**
 * The written copy takes the destination's name. posix-rename@openssh.com replaces it in one step.
 * Without it, a plain RENAME (which OpenSSH refuses over an existing file) and, when the
 * destination exists, a move aside: the old file is renamed away, the copy into place (the old one
 * put back if that fails), then the old one removed. A reader may then find no file for a moment.
 */
async function replace(job: TransferJob, written: string, remote: string): Promise<void> {
  const { session } = job;
  if (session.supports(POSIX_RENAME)) {
    await session.call((s, cb) => s.ext_openssh_rename(written, remote, cb));
    return;
  }
  const rename = (from: string, to: string) => session.call((s, cb) => s.rename(from, to, cb));
  try {
    await rename(written, remote);
    return;
  } catch (e) {
    const there = await session.call<Stats>((s, cb) => s.lstat(remote, cb)).catch(() => undefined);
    if (!there || there.isDirectory()) throw e;
  }
  await moveAside(session, remote, () => rename(written, remote));
}

async function moveAside(session: SftpSession, remote: string, put: () => Promise<unknown>) {
  const aside = tempName(remote, true).replace(/\.tmp$/, '.old');
  await session.call((s, cb) => s.rename(remote, aside, cb));
  try {
    await put();
  } catch (e) {
    await session.call((s, cb) => s.rename(aside, remote, cb)).catch(() => {});
    throw e;
  }
  await session.call((s, cb) => s.unlink(aside, cb)).catch(() => {});
}
