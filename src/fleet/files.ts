// Fleet file operations: upload a file or a directory to every host, and download a file from
// every host into dir/<host>/. Each file goes through the transport's one transfer protocol (a
// temporary name beside the destination, its mode, a rename over it: src/ssh/sftp.ts); the fleet
// layers its check on top: the SHA-256 computed on the host must match before the rename, and a
// mismatch is a ChecksumMismatchError, a value, not a message to parse.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, sep } from 'node:path';
import { quote } from '../command/quote.js';
import { hostComponent } from '../local/safe-name.js';
import { walkLocal } from '../local/tree.js';
import { FleetshError, UsageError } from '../process/errors.js';
import { runLine } from './line.js';
import { HostTaskError } from './host-result.js';
import type { HostTask, TaskContext } from './run.js';
import type { FleetShell } from './target.js';

export interface FileTransfer {
  local: string;
  remote: string;
  bytes: number;
  sha256: string;
  /** True when the host computed the same SHA-256 (always checked unless `verify: false`). */
  verified: boolean;
}

export interface TransferOutcome {
  files: FileTransfer[];
  bytes: number;
}

export interface UploadOptions {
  /** File mode on the host (default: the local file's, set-user-ID, set-group-ID and sticky bits included). */
  mode?: number;
  /** Check the SHA-256 on the host before the rename (default true; needs sha256sum or shasum). */
  verify?: boolean;
}

/** A file's copy does not have the SHA-256 of its source: it did not replace the destination. */
export class ChecksumMismatchError extends FleetshError {
  readonly path: string;
  readonly expected: string;
  /** The copy's SHA-256, or null when it could not be read. */
  readonly got: string | null;
  constructor(host: string, path: string, expected: string, got: string | null) {
    super(
      'failed',
      `${host}: ${path} failed its checksum: expected SHA-256 ${expected}, got ${got ?? 'nothing'}`,
      {
        host,
      },
    );
    this.path = path;
    this.expected = expected;
    this.got = got;
  }
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** The SHA-256 of a file on the host, or null when it cannot be read (no such file, a folder). */
export async function remoteSha256(shell: FleetShell, path: string): Promise<string | null> {
  const p = quote(path);
  // One process where it can be: each is a fork on the host, and uploads run this per file.
  // Plumbing, like every command here but the user's own: its output is not the run's output.
  const out = (
    await runLine(
      shell,
      `sum=$(sha256sum -- ${p} 2>/dev/null || shasum -a 256 -- ${p} 2>/dev/null); echo "\${sum%% *}"`,
    )
  ).stdout.trim();
  return out === '' ? null : out;
}

function needSftp(shell: FleetShell, host: string, what: 'uploadFile' | 'downloadFile') {
  const f = shell[what];
  if (typeof f !== 'function')
    throw new UsageError(`${host}: this transport cannot transfer files (${what} is missing)`);
  return f.bind(shell);
}

/**
 * Puts one file in place through the transport's transfer: missing parent folders made, the file
 * written under a temporary name beside the destination with its mode, and, when `verify`, its
 * SHA-256 computed on the host and compared before the rename. On any failure the temporary file
 * is removed and `remote` is untouched.
 */
export async function putAtomic(
  shell: FleetShell,
  ctx: TaskContext,
  local: string,
  remote: string,
  sha256: string,
  mode: number | 'preserve',
  verify = true,
): Promise<boolean> {
  const upload = needSftp(shell, ctx.host, 'uploadFile');
  const check = async (written: string) => {
    const got = await remoteSha256(shell, written);
    if (got !== sha256) throw new ChecksumMismatchError(ctx.host, remote, sha256, got);
  };
  await upload(local, remote, {
    mode,
    mkdirs: true,
    signal: ctx.signal,
    beforeReplace: verify ? check : undefined,
  });
  return verify;
}

interface LocalFile {
  local: string;
  /** Path relative to the uploaded root, with / separators ('' for a single file). */
  rel: string;
  bytes: number;
  mode: number;
  sha256: string;
}

/** The files to upload: one, or a tree's, as every upload walks a tree (src/local/tree.ts). */
async function listLocal(root: string): Promise<{ files: LocalFile[]; isDir: boolean }> {
  const st = await stat(root).catch(() => {
    throw new UsageError(`upload: local path ${root} does not exist`);
  });
  if (!st.isDirectory()) {
    const mode = st.mode & 0o7777;
    return {
      isDir: false,
      files: [{ local: root, rel: '', bytes: st.size, mode, sha256: await sha256File(root) }],
    };
  }
  const files: LocalFile[] = [];
  for (const e of await walkLocal(root)) {
    if (e.dir) continue;
    const local = join(root, e.rel);
    files.push({
      local,
      rel: e.rel.split(sep).join('/'),
      bytes: e.size,
      mode: e.mode,
      sha256: await sha256File(local),
    });
  }
  return { isDir: true, files };
}

/** The per-host task of `fleet.upload(local, remote)`: a file, or a directory's files under `remote`. */
export function uploadTask(
  localPath: string,
  remotePath: string,
  options: UploadOptions = {},
): HostTask<TransferOutcome> {
  let listing: Promise<{ files: LocalFile[]; isDir: boolean }> | undefined;
  return async (shell, ctx) => {
    const { files, isDir } = await (listing ??= listLocal(localPath));
    const target = (f: LocalFile) => (isDir ? posix.join(remotePath, f.rel) : remotePath);
    // A single file's folders are made by its SFTP session; a tree's, in one command for all.
    if (isDir) {
      const dirs = [...new Set(files.map((f) => posix.dirname(target(f))))];
      dirs.push(remotePath);
      await runLine(shell, `mkdir -p ${dirs.map(quote).join(' ')}`);
    }
    const done: FileTransfer[] = [];
    for (const f of files) {
      try {
        const verified = await putAtomic(
          shell,
          ctx,
          f.local,
          target(f),
          f.sha256,
          options.mode ?? 'preserve',
          options.verify !== false,
        );
        done.push({ local: f.local, remote: target(f), bytes: f.bytes, sha256: f.sha256, verified });
      } catch (e) {
        if (e instanceof ChecksumMismatchError) {
          throw new HostTaskError(
            ctx.host,
            `upload of ${target(f)} failed its checksum; the file was not replaced`,
            { files: done, bytes: sum(done) },
          );
        }
        throw e;
      }
    }
    return { files: done, bytes: sum(done) };
  };
}

/** The per-host task of `fleet.download(remote, dir)`: the file lands in `dir/<host>/<name>`, atomically. */
export function downloadTask(remotePath: string, localDir: string): HostTask<TransferOutcome> {
  return async (shell, ctx) => {
    const download = needSftp(shell, ctx.host, 'downloadFile');
    // The host name becomes a folder: one safe path component, whatever the name (`..`, `a/b`).
    const to = join(localDir, hostComponent(ctx.host), basename(remotePath));
    await mkdir(dirname(to), { recursive: true });
    const none = { files: [], bytes: 0 };
    const expected = await remoteSha256(shell, remotePath);
    if (expected === null)
      throw new HostTaskError(ctx.host, `${remotePath} does not exist or is not a file`, none);
    // The copy is checked before it takes its place: a mismatch leaves `to` as it was.
    const check = async (written: string) => {
      const got = await sha256File(written);
      if (got !== expected) throw new ChecksumMismatchError(ctx.host, remotePath, expected, got);
    };
    try {
      await download(remotePath, to, { signal: ctx.signal, beforeReplace: check });
    } catch (e) {
      if (e instanceof ChecksumMismatchError)
        throw new HostTaskError(ctx.host, `download of ${remotePath} failed its checksum`, none);
      throw e;
    }
    const bytes = (await stat(to)).size;
    return { files: [{ local: to, remote: remotePath, bytes, sha256: expected, verified: true }], bytes };
  };
}

function sum(files: FileTransfer[]): number {
  return files.reduce((n, f) => n + f.bytes, 0);
}
