// Where the agent lives and who may talk to it: `$XDG_RUNTIME_DIR/fleetsh/` (else `/tmp/fleetsh-UID/`),
// a folder of mode 0700 owned by the user, holding the socket (0600), a token file (0600), a lock
// (the agent's pid) and the agent's log.
//
// Node does not expose SO_PEERCRED, so the agent cannot ask the kernel who connected. What stands in
// for it: the folder and the socket are checked (owner = this uid, no group or other bits, not a
// symlink) by the agent when it starts and on every connection it accepts, and by the CLI before it
// connects; and a client must present the token, a random secret in a file only this user can read,
// in its first message. Another user cannot reach the socket through a 0700 folder, and cannot read
// the token if the modes were loosened; root can do both, as root can read the user's keys anyway.
import { chmodSync, lstatSync, mkdirSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AgentPaths {
  dir: string;
  socket: string;
  token: string;
  lock: string;
  log: string;
}

/** A folder or file of the agent that someone else owns or could write: nothing is used from it. */
export class AgentUnsafeError extends Error {}

export function agentPaths(env: NodeJS.ProcessEnv = process.env): AgentPaths {
  const runtime = env.XDG_RUNTIME_DIR;
  const dir =
    runtime && runtime.startsWith('/') ? join(runtime, 'fleetsh') : join(tmpdir(), `fleetsh-${uid()}`);
  return {
    dir,
    socket: join(dir, 'agent.sock'),
    token: join(dir, 'agent.token'),
    lock: join(dir, 'agent.lock'),
    log: join(dir, 'agent.log'),
  };
}

export function uid(): number {
  return process.getuid?.() ?? 0;
}

/** Makes the folder (mode 0700) when missing, then checks it. */
export function ensureDir(paths: AgentPaths): void {
  try {
    mkdirSync(paths.dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  checkDir(paths);
}

/** The folder is a real folder of this user with no group or other bits; throws AgentUnsafeError. */
export function checkDir(paths: AgentPaths): void {
  checkOwned(lstatSync(paths.dir), paths.dir, 'folder');
}

/** The socket (or token) is this user's, not a link, with no group or other bits. */
export function checkFile(path: string, what: 'socket' | 'file'): Stats {
  const st = lstatSync(path);
  checkOwned(st, path, what);
  return st;
}

function checkOwned(st: Stats, path: string, what: 'folder' | 'socket' | 'file'): void {
  const type = what === 'folder' ? st.isDirectory() : what === 'socket' ? st.isSocket() : st.isFile();
  if (!type)
    throw new AgentUnsafeError(`${path} is not a ${what} (a link or another kind of file); remove it`);
  if (st.uid !== uid())
    throw new AgentUnsafeError(`${path} belongs to uid ${st.uid}, not to you (uid ${uid()}); remove it`);
  if ((st.mode & 0o077) !== 0)
    throw new AgentUnsafeError(
      `${path} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: others could use it; ` +
        `it must be ${what === 'folder' ? '0700' : '0600'} (chmod it, or remove it)`,
    );
}

/** Tightens a file the agent made (the socket gets the mode the umask gave it). */
export function makePrivate(path: string): void {
  chmodSync(path, 0o600);
}
