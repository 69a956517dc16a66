// Fleet file operations: upload a file or a directory to every host, and download a file or a
// directory from every host into dir/<host>/. Each file goes through the transport's one transfer
// protocol (a temporary name beside the destination, its mode, fsync, a rename over it:
// src/ssh/sftp.ts), which runs no command on the host: SSH's MAC protects the bytes on the way, and
// fsync and the rename make the copy all or nothing on the host. With `verify` the fleet reads the
// copy back: the SHA-256 computed on the host must match before the rename, and a mismatch is a
// ChecksumMismatchError, a value, not a message to parse. A download is always checked: a directory
// download computes every file's SHA-256 on the host in one command once the tree is walked (one
// command per 64 KiB of names), and checks each copy against it before the copy takes its place.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, posix, sep } from 'node:path';
import { quote } from '../command/quote.js';
import { hostComponent, showName } from '../local/safe-name.js';
import { walkLocal } from '../local/tree.js';
import { FleetshError, UsageError } from '../process/errors.js';
import { runLine } from './line.js';
import { HostTaskError, withoutHostName } from './host-result.js';
import type { HostTask, TaskContext } from './run.js';
import type { FleetShell, FleetTransferFile } from './target.js';

export interface FileTransfer {
  local: string;
  remote: string;
  bytes: number;
  sha256: string;
  /** True when the copy was read back: the host computed the same SHA-256 (with `verify`; a download always). */
  verified: boolean;
}

export interface TransferOutcome {
  files: FileTransfer[];
  bytes: number;
  /** A directory download's entries left out (special files, links to folders), and why. */
  skipped?: EntryNote[];
  /** A directory download's entries refused (names unsafe as a local path, links out of the tree), and why. */
  rejected?: EntryNote[];
}

/** An entry of a remote tree, by its remote path, and what was done with it. */
export interface EntryNote {
  path: string;
  reason: string;
}

export interface UploadOptions {
  /** File mode on the host (default: the local file's, set-user-ID, set-group-ID and sticky bits included). */
  mode?: number;
  /**
   * Read the copy back before the rename: its SHA-256 computed on the host (one command per file;
   * needs sha256sum or shasum) must be the source's. Default false: the transfer alone runs no
   * command on the host, and SSH's MAC already protects the bytes on the way.
   */
  verify?: boolean;
}

/** A file's copy does not have the SHA-256 of its source: it did not replace the destination. */
export class ChecksumMismatchError extends FleetshError {
  readonly path: string;
  /** The source's SHA-256, or null when the host could not compute it (unreadable, no sha256sum). */
  readonly expected: string | null;
  /** The copy's SHA-256, or null when it could not be read. */
  readonly got: string | null;
  constructor(host: string, path: string, expected: string | null, got: string | null) {
    super(
      'failed',
      expected === null
        ? `${host}: ${path}: its SHA-256 could not be computed on the host, so the copy cannot be checked (is the file readable, and is sha256sum or shasum installed?)`
        : `${host}: ${path} failed its checksum: expected SHA-256 ${expected}, got ${got ?? 'nothing'}`,
      { host },
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
 * is removed and `remote` is untouched. Returns whether the copy was read back.
 */
export async function putAtomic(
  shell: FleetShell,
  ctx: TaskContext,
  local: string,
  remote: string,
  sha256: string,
  mode: number | 'preserve',
  verify: boolean,
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
    if (isDir) return uploadTree(shell, ctx, localPath, remotePath, files, options);
    const f = files[0]!;
    try {
      const verified = await putAtomic(
        shell,
        ctx,
        f.local,
        remotePath,
        f.sha256,
        options.mode ?? 'preserve',
        options.verify === true,
      );
      const done = [{ local: f.local, remote: remotePath, bytes: f.bytes, sha256: f.sha256, verified }];
      return { files: done, bytes: f.bytes };
    } catch (e) {
      if (e instanceof ChecksumMismatchError)
        throw new HostTaskError(
          ctx.host,
          `upload of ${remotePath} failed its checksum; the file was not replaced`,
          none(),
        );
      throw e;
    }
  };
}

/**
 * A directory through the transport's uploadDirectory: one SFTP session for the whole tree, its
 * folders made there, each file checked before its rename when `verify`. A file is counted done once
 * the transfer has gone past its rename (to the next file, or to the end).
 */
async function uploadTree(
  shell: FleetShell,
  ctx: TaskContext,
  localPath: string,
  remotePath: string,
  files: LocalFile[],
  options: UploadOptions,
): Promise<TransferOutcome> {
  if (typeof shell.uploadDirectory !== 'function')
    throw new UsageError(
      `${ctx.host}: this transport cannot upload a directory (uploadDirectory is missing)`,
    );
  const verify = options.verify === true;
  const byRel = new Map(files.map((f) => [f.rel, f]));
  const done: FileTransfer[] = [];
  let replacing: FileTransfer | undefined;
  const beforeReplace = async (written: string, file: FleetTransferFile) => {
    if (replacing) done.push(replacing);
    replacing = undefined;
    const f = byRel.get(file.rel);
    if (!f) throw new UsageError(`${ctx.host}: ${file.local} was not in the tree when it was listed`);
    if (verify) {
      const got = await remoteSha256(shell, written);
      if (got !== f.sha256) throw new ChecksumMismatchError(ctx.host, file.remote, f.sha256, got);
    }
    replacing = { local: f.local, remote: file.remote, bytes: f.bytes, sha256: f.sha256, verified: verify };
  };
  try {
    await shell.uploadDirectory(localPath, remotePath, {
      mode: options.mode ?? 'preserve',
      mkdirs: true,
      signal: ctx.signal,
      beforeReplace,
    });
  } catch (e) {
    const bad = mismatch(e);
    if (bad)
      throw new HostTaskError(
        ctx.host,
        `upload of ${bad.path} failed its checksum; the file was not replaced`,
        { files: done, bytes: sum(done) },
      );
    throw e;
  }
  if (replacing) done.push(replacing);
  return { files: done, bytes: sum(done) };
}

/**
 * The per-host task of `fleet.download(remote, dir)`: a file lands in `dir/<host>/<name>`, a
 * directory's tree in `dir/<host>/<name>/`, each file checked against the SHA-256 the host computed
 * before it takes its place.
 */
export function downloadTask(remotePath: string, localDir: string): HostTask<TransferOutcome> {
  return async (shell, ctx) => {
    // The host name becomes a folder: one safe path component, whatever the name (`..`, `a/b`).
    const to = landing(localDir, hostComponent(ctx.host), remotePath);
    const found = await remoteEntry(shell, remotePath);
    if (found === null)
      throw new HostTaskError(ctx.host, `${remotePath} does not exist or cannot be read`, none());
    if (found === 'directory') return downloadTree(shell, ctx, remotePath, to);
    const download = needSftp(shell, ctx.host, 'downloadFile');
    await mkdir(dirname(to), { recursive: true });
    // The copy is checked before it takes its place: a mismatch leaves `to` as it was.
    const check = async (written: string) => {
      const got = await sha256File(written);
      if (got !== found) throw new ChecksumMismatchError(ctx.host, remotePath, found, got);
    };
    try {
      await download(remotePath, to, { signal: ctx.signal, beforeReplace: check });
    } catch (e) {
      if (mismatch(e))
        throw new HostTaskError(ctx.host, `download of ${remotePath} failed its checksum`, none());
      throw e;
    }
    const bytes = (await stat(to)).size;
    return { files: [{ local: to, remote: remotePath, bytes, sha256: found, verified: true }], bytes };
  };
}

/** A directory through the transport's downloadDirectory, every file checked before it is put in place. */
async function downloadTree(
  shell: FleetShell,
  ctx: TaskContext,
  remotePath: string,
  to: string,
): Promise<TransferOutcome> {
  if (typeof shell.downloadDirectory !== 'function')
    throw new UsageError(
      `${ctx.host}: this transport cannot download a directory (downloadDirectory is missing)`,
    );
  let sums = new Map<string, string>();
  const done: FileTransfer[] = [];
  const beforeFiles = async (files: FleetTransferFile[]) => {
    sums = await remoteSha256s(
      shell,
      remotePath,
      files.map((f) => f.rel),
    );
  };
  const beforeReplace = async (written: string, file: FleetTransferFile) => {
    const expected = sums.get(file.rel) ?? null;
    const got = await sha256File(written);
    if (got !== expected) throw new ChecksumMismatchError(ctx.host, file.remote, expected, got);
    done.push({ local: file.local, remote: file.remote, bytes: file.size, sha256: got, verified: true });
  };
  try {
    const r = await shell.downloadDirectory(remotePath, to, {
      signal: ctx.signal,
      beforeFiles,
      beforeReplace,
    });
    const skipped = r.skipped ?? [];
    return { files: done, bytes: sum(done), ...(skipped.length ? { skipped } : {}) };
  } catch (e) {
    const kept = { files: done, bytes: sum(done) };
    const bad = mismatch(e);
    if (bad)
      throw new HostTaskError(
        ctx.host,
        `download of ${remotePath}: ${withoutHostName(ctx.host, bad.message)}; it was not put in place, and the download stopped there (${done.length} file${done.length === 1 ? '' : 's'} before it were checked and kept)`,
        kept,
      );
    const rejected = rejectedOf(e);
    if (rejected.length === 0) throw e;
    // One line per refused entry, each naming the entry and the host.
    const lines = rejected.map((r) => `${ctx.host}: ${showName(r.path)} refused: ${r.reason}`);
    const skipped = (e as { result?: { skipped?: EntryNote[] } }).result?.skipped ?? [];
    throw new HostTaskError(
      ctx.host,
      `download of ${remotePath}: ${rejected.length} entr${rejected.length === 1 ? 'y was' : 'ies were'} refused; the rest was copied and checked\n${lines.join('\n')}`,
      { ...kept, rejected, ...(skipped.length ? { skipped } : {}) },
    );
  }
}

/** Where a download lands: `dir/<host>/<name>`, or `dir/<host>/` for `/`, `.` and `..`. */
function landing(localDir: string, host: string, remotePath: string): string {
  const name = posix.basename(posix.normalize(remotePath));
  return name === '' || name === '.' || name === '..' || name === '/'
    ? join(localDir, host)
    : join(localDir, host, name);
}

/** What a remote path is, in one command: 'directory', a file's SHA-256, or null (missing, unreadable). */
async function remoteEntry(shell: FleetShell, path: string): Promise<'directory' | string | null> {
  const p = quote(path);
  const out = (
    await runLine(
      shell,
      `if [ -d ${p} ]; then echo directory; else sum=$(sha256sum -- ${p} 2>/dev/null || shasum -a 256 -- ${p} 2>/dev/null); echo "\${sum%% *}"; fi`,
    )
  ).stdout.trim();
  if (out === 'directory') return out;
  return /^[0-9a-f]{64}$/.test(out) ? out : null;
}

/**
 * Linux caps one argument at 128 KiB (MAX_ARG_STRLEN), and sshd hands the whole command line to the
 * shell as one argument: names go 64 KiB of them per command.
 */
const MAX_NAMES_PER_COMMAND = 64 * 1024;

/**
 * The SHA-256 of files below `root` on the host, by their path below it. One command per 64 KiB of
 * names; a file the host cannot read is missing from the map. The names were checked by the walk
 * (no newline, backslash or control character), so sha256sum prints each as it was given.
 */
export async function remoteSha256s(
  shell: FleetShell,
  root: string,
  rels: readonly string[],
): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  const chunks: string[][] = [];
  let size = 0;
  for (const rel of rels) {
    const word = quote(rel);
    if (chunks.length === 0 || size + word.length > MAX_NAMES_PER_COMMAND) {
      chunks.push([]);
      size = 0;
    }
    chunks[chunks.length - 1]!.push(word);
    size += word.length + 1;
  }
  for (const words of chunks) {
    const names = words.join(' ');
    const r = await runLine(
      shell,
      // The names once, as the positional parameters: the command line stays within 64 KiB and a bit.
      `cd -- ${quote(root)} && set -- ${names} && if command -v sha256sum >/dev/null 2>&1; then sha256sum -- "$@"; else shasum -a 256 -- "$@"; fi`,
    ).nothrow(); // an unreadable file makes the exit status 1: its line is missing, the others count
    for (const line of r.stdout.split('\n')) {
      const m = /^\\?([0-9a-f]{64}) [ *](.*)$/.exec(line);
      if (m) sums.set(m[2]!, m[1]!);
    }
  }
  return sums;
}

function mismatch(e: unknown): ChecksumMismatchError | undefined {
  if (e instanceof ChecksumMismatchError) return e;
  const cause = (e as { cause?: unknown } | null)?.cause;
  return cause instanceof ChecksumMismatchError ? cause : undefined;
}

/** The entries a directory download refused, from the transport's error (its `rejected` field). */
function rejectedOf(e: unknown): EntryNote[] {
  const list = (e as { rejected?: unknown } | null)?.rejected;
  return e instanceof FleetshError && Array.isArray(list) ? (list as EntryNote[]) : [];
}

function none(): TransferOutcome {
  return { files: [], bytes: 0 };
}

function sum(files: FileTransfer[]): number {
  return files.reduce((n, f) => n + f.bytes, 0);
}
