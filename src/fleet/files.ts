// Fleet file operations: upload a file or a directory to every host, each file atomically (to a
// temporary name beside it, checksum verified on the host, then renamed over the target), and
// download a file from every host into dir/<host>/.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, relative, sep } from 'node:path';
import { quote } from '../command/quote.js';
import { hostComponent } from '../local/safe-name.js';
import { UsageError } from '../process/errors.js';
import { runLine } from './line.js';
import { HostTaskError } from './host-result.js';
import type { HostTask, TaskContext } from './run.js';
import type { FleetShell } from './target.js';

/** How long removing a failed upload's temporary file may take. */
const CLEANUP_TIMEOUT_MS = 5000;

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
  /** File mode on the host (default: the local file's). */
  mode?: number;
  /** Check the SHA-256 on the host before the rename (default true; needs sha256sum or shasum). */
  verify?: boolean;
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

/**
 * A shell snippet that sets $sum to the SHA-256 of a file, or to nothing when it cannot be read (no
 * such file, a folder). Few processes: each one is a fork on the host, and uploads run it per file.
 */
function sumInto(path: string): string {
  const p = quote(path);
  return `sum=$(sha256sum -- ${p} 2>/dev/null || shasum -a 256 -- ${p} 2>/dev/null); sum=\${sum%% *}`;
}

/** The SHA-256 of a file on the host, or null when there is no such file. */
export async function remoteSha256(shell: FleetShell, path: string): Promise<string | null> {
  // Plumbing, like every command here but the user's own: its output is not the run's output.
  const out = (await runLine(shell, `${sumInto(path)}; echo "$sum"`)).stdout.trim();
  return out === '' ? null : out;
}

function needSftp(shell: FleetShell, host: string, what: 'uploadFile' | 'downloadFile') {
  const f = shell[what];
  if (typeof f !== 'function')
    throw new UsageError(`${host}: this transport cannot transfer files (${what} is missing)`);
  return f.bind(shell);
}

/**
 * Puts one file in place atomically. One SFTP session creates missing parent folders, writes the
 * file to `<remote>.fleetsh-<random>.tmp` beside the destination and sets its mode; then one command
 * checks its SHA-256 on the host and renames it over `remote`. Without the check, the SFTP session
 * does the rename too, and nothing runs on the host. On any failure the temporary file is removed
 * and `remote` is untouched.
 */
export async function putAtomic(
  shell: FleetShell,
  ctx: TaskContext,
  local: string,
  remote: string,
  sha256: string,
  mode: number,
  verify = true,
): Promise<boolean> {
  const upload = needSftp(shell, ctx.host, 'uploadFile');
  if (!verify) {
    await upload(local, remote, { mode, mkdirs: true, signal: ctx.signal });
    return false;
  }
  const tmp = `${remote}.fleetsh-${randomBytes(4).toString('hex')}.tmp`;
  const t = quote(tmp);
  try {
    // The temporary name is private: no second temporary file and rename inside the SFTP session.
    await upload(local, tmp, { mode, mkdirs: true, atomic: false, signal: ctx.signal });
    await runLine(
      shell,
      `${sumInto(tmp)}; if [ "$sum" != ${quote(sha256)} ]; then echo "checksum mismatch: got \${sum:-nothing}" >&2; exit 90; fi; exec mv -f ${t} ${quote(remote)}`,
    );
    return true;
  } catch (e) {
    // Not under the host's signal: after a timeout or a cancel it has aborted, and the file must go.
    await runLine(shell.with({ signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS) }), `rm -f ${t}`).catch(
      () => {},
    );
    throw e;
  }
}

interface LocalFile {
  local: string;
  /** Path relative to the uploaded root, with / separators ('' for a single file). */
  rel: string;
  bytes: number;
  mode: number;
  sha256: string;
}

async function listLocal(root: string): Promise<{ files: LocalFile[]; isDir: boolean }> {
  const st = await stat(root).catch(() => {
    throw new UsageError(`upload: local path ${root} does not exist`);
  });
  if (!st.isDirectory())
    return {
      isDir: false,
      files: [
        { local: root, rel: '', bytes: st.size, mode: st.mode & 0o777, sha256: await sha256File(root) },
      ],
    };
  const files: LocalFile[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile()) {
        const s = await stat(p);
        files.push({
          local: p,
          rel: relative(root, p).split(sep).join('/'),
          bytes: s.size,
          mode: s.mode & 0o777,
          sha256: await sha256File(p),
        });
      }
    }
  };
  await walk(root);
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
          options.mode ?? f.mode,
          options.verify !== false,
        );
        done.push({ local: f.local, remote: target(f), bytes: f.bytes, sha256: f.sha256, verified });
      } catch (e) {
        if (e instanceof Error && /checksum mismatch/.test(e.message)) {
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
    const tmp = `${to}.fleetsh-${randomBytes(4).toString('hex')}.tmp`;
    try {
      const expected = await remoteSha256(shell, remotePath);
      if (expected === null)
        throw new HostTaskError(ctx.host, `${remotePath} does not exist or is not a file`, {
          files: [],
          bytes: 0,
        });
      await download(remotePath, tmp);
      const got = await sha256File(tmp);
      if (got !== expected)
        throw new HostTaskError(ctx.host, `download of ${remotePath} failed its checksum`, {
          files: [],
          bytes: 0,
        });
      await rename(tmp, to);
      const bytes = (await stat(to)).size;
      return { files: [{ local: to, remote: remotePath, bytes, sha256: got, verified: true }], bytes };
    } finally {
      await rm(tmp, { force: true });
    }
  };
}

function sum(files: FileTransfer[]): number {
  return files.reduce((n, f) => n + f.bytes, 0);
}
