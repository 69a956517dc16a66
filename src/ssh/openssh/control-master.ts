// One OpenSSH ControlMaster per host: the system ssh logs in once, then every command of that host
// is a client on the master's socket (a channel on its connection, no new handshake). No library
// runs the system ssh this way for Node; this is the part of ClusterShell's and Ansible's ssh
// transports that fleetsh needs, written for its pool.
//
// The master is `ssh -o ControlMaster=yes -o ControlPersist=IDLE -N host`: ssh authenticates, forks
// the master into the background and exits 0 (the moment it is ready), or exits 255 with why on
// stderr (src/ssh/openssh/ssh-errors.ts reads it). ControlPersist makes the master exit by itself
// once unused for the pool's idle timeout, so a fleetsh that was killed leaves no master behind
// for longer than that. fleetsh learns its process id (`ssh -O check`) and stops it by that id on
// close, after checking the id is still that master's (/proc/PID/cmdline names its socket).
//
// The sockets are in a private folder (mode 0700) made on first use under $TMPDIR, or /tmp when
// that path is too long: a Unix socket's path holds at most 104 bytes on some systems (108 on
// Linux), and ssh binds a temporary name 17 bytes longer first. A socket is named by a digest of
// the target's pool key (user, address, port, keys, host key settings, jump chain), as %C is.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionError, formatMs } from '../../process/errors.js';
import { isOwnVariable } from '../resolve.js';
import { Semaphore } from '../semaphore.js';
import type { ResolvedTarget } from '../types.js';
import { controlArgs, masterArgs } from './ssh-args.js';
import { masterPid, sshFailure } from './ssh-errors.js';

/** The ssh binary (the PATH's), as an operator would run it. */
export const SSH_BINARY = 'ssh';
/** Bytes of a socket path that must stay free: ssh binds `PATH.` and 16 random characters first. */
const SOCKET_PATH_MAX = 104 - 17;
/** How much of a failing ssh's stderr is kept to say why. */
const STDERR_KEEP = 16 * 1024;
/** Beyond ssh's own ConnectTimeout (which does not cover authentication), the start is given up. */
const START_SLACK_MS = 5_000;
/** How long a stopped master may take to exit before it gets SIGKILL. */
const STOP_WAIT_MS = 2_000;
/** How long a failed ssh's stderr may take to end after its exit. */
const STDERR_WAIT_MS = 1_000;
/** A master start that failed early (sshd past its MaxStartups) is tried this many times in all. */
const START_ATTEMPTS = 3;

export interface MasterSettings {
  /** Handshakes in flight, shared with the ssh2 transport (the pool's cap). */
  handshakes: Semaphore;
  /** The master exits once unused this long. */
  idleTimeoutMs: number;
  /** Commands at once on one master when the target does not say (sshd's MaxSessions). */
  maxSessions: number;
}

export class ControlMaster {
  readonly target: ResolvedTarget;
  readonly socket: string;
  /** Commands and kill helpers at once on this master; kill helpers go first. */
  readonly sessions: Semaphore;
  readonly #common: string[];
  readonly #settings: MasterSettings;
  readonly #onClose: (m: ControlMaster) => void;
  #starting: Promise<void> | undefined;
  #pid: Promise<number | undefined> | undefined;
  #closed = false;

  constructor(
    target: ResolvedTarget,
    common: string[],
    socket: string,
    settings: MasterSettings,
    onClose: (m: ControlMaster) => void,
  ) {
    this.target = target;
    this.socket = socket;
    this.#common = common;
    this.#settings = settings;
    this.#onClose = onClose;
    this.sessions = new Semaphore(target.maxSessions ?? settings.maxSessions);
  }

  /** What every ssh of this target is given before the host (the master's options). */
  get common(): string[] {
    return this.#common;
  }

  /** The host argument as the user named it (ssh_config's Host blocks match it). */
  get host(): string {
    return this.target.host;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts the master once (shared by concurrent callers); rejects with a ConnectionError. */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#starting ??= this.#start().catch((e: unknown) => {
      this.#close();
      throw e;
    });
    return this.#starting;
  }

  /** Whether the master still serves its socket (its socket exists and its process lives). */
  async alive(): Promise<boolean> {
    if (this.#closed || !existsSync(this.socket)) return false;
    const pid = await this.#pid;
    if (pid === undefined) return true;
    return processIsMaster(pid, this.socket) !== false;
  }

  /** Stops the master (by its process id) and forgets it; commands on it end with kind closed. */
  async close(): Promise<void> {
    const wasStarted = this.#starting !== undefined;
    this.#close();
    if (!wasStarted) return;
    await this.#starting?.catch(() => {});
    const pid = await this.#pid;
    if (pid !== undefined) return stopProcess(pid, this.socket);
    // Without a process id (no /proc, or check failed): ask the master to exit over its socket,
    // and wait (bounded) for it to remove the socket as it exits.
    await runSsh(controlArgs(this.#common, this.socket, 'exit', this.host), START_SLACK_MS).catch(() => {});
    for (let waited = 0; waited < STOP_WAIT_MS && existsSync(this.socket); waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
  }

  /** The master's process id, for a synchronous stop at exit; undefined when not known yet. */
  knownPid: number | undefined;

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    live.delete(this);
    this.sessions.rejectAll(this.#closedError());
    this.#onClose(this);
  }

  #closedError(): ConnectionError {
    return new ConnectionError('closed', this.target.label, 'the OpenSSH master connection was closed', {
      stage: 'connected',
    });
  }

  async #start(): Promise<void> {
    const t = this.target;
    const release = await this.#settings.handshakes.acquire();
    try {
      // A socket left by a master that was killed would make ssh start without multiplexing.
      rmSync(this.socket, { force: true });
      const args = masterArgs(
        this.#common,
        this.socket,
        Math.ceil(this.#settings.idleTimeoutMs / 1000),
        this.host,
      );
      const bound = t.connectTimeoutMs + START_SLACK_MS;
      for (let attempt = 1; ; attempt++) {
        const r = await runSsh(args, bound);
        if (this.#closed) throw this.#closedError();
        if (r.timedOut) {
          throw new ConnectionError(
            'connect-timeout',
            t.label,
            `ssh did not log in to ${t.hostname}:${t.port} within ${formatMs(bound)}`,
            {
              hint: 'Is the host up and the port reachable (firewall)? Raise connectTimeout for slow links.',
              stage: 'auth',
            },
          );
        }
        if (r.code === 0) break;
        const e = sshFailure(r.stderr, t);
        if (!e.retryable || attempt >= START_ATTEMPTS) throw e;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    } finally {
      release();
    }
    this.#pid = runSsh(controlArgs(this.#common, this.socket, 'check', this.host), START_SLACK_MS)
      .then((r) => (r.code === 0 ? masterPid(r.stderr) : undefined))
      .catch(() => undefined)
      .then((pid) => (this.knownPid = pid));
    if (!this.#closed) live.add(this);
  }
}

/** The masters of one pool: one per target (its pool key), in one private folder. */
export class ControlMasters {
  readonly #settings: () => MasterSettings;
  readonly #masters = new Map<string, ControlMaster>();
  #dir: string | undefined;

  constructor(settings: () => MasterSettings) {
    this.#settings = settings;
  }

  /** The master for a target, made on first use (not started: call connect()). */
  master(target: ResolvedTarget, common: string[]): ControlMaster {
    const key = `${target.poolKey}\n${common.join('\0')}`;
    const existing = this.#masters.get(key);
    if (existing && !existing.closed) return existing;
    const name = createHash('sha256').update(key).digest('hex').slice(0, 24);
    const master = new ControlMaster(target, common, join(this.#folder(), name), this.#settings(), (m) => {
      if (this.#masters.get(key) === m) this.#masters.delete(key);
    });
    this.#masters.set(key, master);
    return master;
  }

  get size(): number {
    return this.#masters.size;
  }

  /** The private folder of the sockets, once a master was asked for (removed by close()). */
  get folder(): string | undefined {
    return this.#dir;
  }

  /** Stops the masters of one target (every set of ssh options it was reached with). */
  async closeTarget(target: ResolvedTarget): Promise<void> {
    const mine = [...this.#masters].filter(([key]) => key.startsWith(`${target.poolKey}\n`));
    for (const [key] of mine) this.#masters.delete(key);
    await Promise.all(mine.map(([, m]) => m.close()));
  }

  /** Stops every master and removes the private folder. */
  async close(): Promise<void> {
    const all = [...this.#masters.values()];
    this.#masters.clear();
    await Promise.all(all.map((m) => m.close()));
    if (this.#dir) {
      rmSync(this.#dir, { recursive: true, force: true });
      folders.delete(this.#dir);
    }
    this.#dir = undefined;
  }

  #folder(): string {
    if (this.#dir && existsSync(this.#dir)) return this.#dir;
    // mkdtemp makes the folder with mode 0700.
    let base = tmpdir();
    // ssh expands % tokens and ${VAR} in the socket's path (-S is ControlPath): a $TMPDIR that has
    // them would name another file.
    if (base.length + '/fsh-XXXXXX/'.length + 24 > SOCKET_PATH_MAX || /[%$]/.test(base)) base = '/tmp';
    this.#dir = mkdtempSync(join(base, 'fsh-'));
    folders.add(this.#dir);
    return this.#dir;
  }
}

interface SshRun {
  code: number | null;
  stderr: string;
  timedOut: boolean;
}

/** Runs one ssh to its end (the master's start, a control request), killing it past `timeoutMs`. */
function runSsh(args: string[], timeoutMs: number): Promise<SshRun> {
  return new Promise((resolve, reject) => {
    // Its own process group: Ctrl-C on the terminal reaches fleetsh, which stops what it started.
    const child = spawn(SSH_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    let timedOut = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < STDERR_KEEP) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(
        new ConnectionError('config', 'ssh', `cannot run the system ssh (${(e as Error).message})`, {
          hint: "The OpenSSH transport needs OpenSSH's ssh client on the PATH.",
        }),
      );
    });
    // Ready at 'exit' 0 (the master it forked keeps no pipe of ours open); a failure is read once
    // its stderr has ended, within a bound (a ProxyCommand it started might hold the pipe).
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ code, stderr, timedOut });
      const done = () => resolve({ code, stderr, timedOut });
      const bound = setTimeout(done, STDERR_WAIT_MS);
      child.stderr.once('close', () => (clearTimeout(bound), done()));
      if (child.stderr.closed) done();
    });
  });
}

/**
 * A client's environment: each ssh that opens a session sends what ssh_config's SendEnv names from it, so fleetsh's own
 * variables (resolve.ts's isOwnVariable: the job marker the kill helper looks for) are left out,
 * as the ssh2 transport leaves them out.
 */
export function clientEnv(term: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!isOwnVariable(name)) env[name] = value;
  if (term !== undefined) env.TERM = term;
  return env;
}

/** Signals a child's process group (it was spawned detached), ignoring one that is gone. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** true: that process is the master of `socket`; false: it is not (gone, or another); undefined: no /proc. */
function processIsMaster(pid: number, socket: string): boolean | undefined {
  if (!existsSync('/proc/self/cmdline')) {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return false;
    }
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(socket);
  } catch {
    return false;
  }
}

async function stopProcess(pid: number, socket: string): Promise<void> {
  if (processIsMaster(pid, socket) === false) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < STOP_WAIT_MS; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (processIsMaster(pid, socket) === false) return;
  }
  if (processIsMaster(pid, socket) !== false) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

// At exit, masters still running are stopped and the folders removed (synchronously: 'exit' allows
// nothing else). A fleetsh killed with SIGKILL leaves them to ControlPersist's idle timeout.
const live = new Set<ControlMaster>();
const folders = new Set<string>();
process.once('exit', () => {
  for (const m of live) {
    const pid = m.knownPid;
    if (pid !== undefined && processIsMaster(pid, m.socket) !== false) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
  }
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});
