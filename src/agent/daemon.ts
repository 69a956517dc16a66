// The agent: a per-user process that keeps authenticated SSH connections between CLI runs (as
// OpenSSH's ControlPersist does) and serves them on a Unix socket (src/agent/paths.ts says who may
// connect). It holds the transport only: connections, channels and the commands on them. The
// fleet engine (scheduling, policies, report) stays in each CLI, which sends one request per
// command (src/agent/session.ts serves them).
//
// It stops after `idleTimeoutMs` with no client connected and no command running, on `fleetsh agent
// stop`, and on SIGTERM/SIGINT; its connections close with it.
import { createHash, randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { SshPool } from '../ssh/pool.js';
import { labelOf } from '../ssh/shell.js';
import { TargetTransport } from '../ssh/target-transport.js';
import { resolveTarget, type ResolveContext } from '../ssh/resolve.js';
import type { ResolvedTarget, SshTargetOptions } from '../ssh/types.js';
import { agentPaths, checkDir, checkFile, ensureDir, makePrivate, type AgentPaths } from './paths.js';
import { ClientSession } from './session.js';

/** Like ControlPersist's common setting: 10 minutes with no client and no command. */
export const DEFAULT_AGENT_IDLE_MS = 10 * 60_000;
/** How long a resolution (an ssh_config read) is reused, as `$.ssh` does in one process. */
const RESOLVE_TTL_MS = 5_000;

export interface AgentOptions {
  idleTimeoutMs?: number;
  /**
   * Run commands on each connection's persistent shell (docs/ssh.md#the-persistent-shell) unless a
   * target says otherwise. Default: FLEETSH_AGENT_PERSISTENT_SHELL=1 in the agent's environment (the
   * run that started it passes its own on), else off, as in the library.
   */
  persistentShell?: boolean;
  paths?: AgentPaths;
  log?: (line: string) => void;
}

/** Another agent holds the lock and is alive. */
export class AgentRunningError extends Error {
  constructor(readonly pid: number) {
    super(`a fleetsh agent is already running (pid ${pid})`);
  }
}

export interface AgentStatus {
  pid: number;
  uptimeMs: number;
  idleTimeoutMs: number;
  clients: number;
  commands: number;
  /** SSH connections open or opening. */
  connections: number;
  /** SSH handshakes made since the agent started. */
  handshakes: number;
  /** Commands run on persistent shells by default (AgentOptions.persistentShell). */
  persistentShell?: boolean;
  socket: string;
}

export class Agent {
  readonly paths: AgentPaths;
  readonly idleTimeoutMs: number;
  readonly persistentShell: boolean;
  readonly token: string;
  readonly log: (line: string) => void;
  readonly #started = Date.now();
  readonly #server: Server;
  readonly #sessions = new Set<ClientSession>();
  readonly #pools = new Map<string, SshPool>();
  readonly #executors = new Map<string, { at: number; executor: TargetTransport }>();
  #commands = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  readonly closed: Promise<void>;
  #markClosed!: () => void;

  private constructor(paths: AgentPaths, options: AgentOptions, server: Server) {
    this.paths = paths;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_AGENT_IDLE_MS;
    this.persistentShell = options.persistentShell ?? envFlag(process.env.FLEETSH_AGENT_PERSISTENT_SHELL);
    this.log = options.log ?? ((line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
    this.token = randomBytes(32).toString('hex');
    this.#server = server;
    this.closed = new Promise((r) => (this.#markClosed = r));
  }

  /** Takes the lock, writes the token, listens. Throws AgentRunningError when another agent runs. */
  static async start(options: AgentOptions = {}): Promise<Agent> {
    const paths = options.paths ?? agentPaths();
    ensureDir(paths);
    takeLock(paths);
    const server = createServer({ pauseOnConnect: false });
    const agent = new Agent(paths, options, server);
    try {
      rmIfThere(paths.token);
      writeFileSync(paths.token, agent.token, { mode: 0o600, flag: 'wx' });
      rmIfThere(paths.socket); // stale: its agent no longer holds the lock
      const umask = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(paths.socket, () => (server.off('error', reject), resolve()));
        });
      } finally {
        process.umask(umask);
      }
      makePrivate(paths.socket);
      checkFile(paths.socket, 'socket');
    } catch (e) {
      server.close();
      releaseFiles(paths);
      throw e;
    }
    server.on('connection', (socket) => agent.#accept(socket));
    agent.#armIdle();
    agent.log(
      `agent started: pid ${process.pid}, idle timeout ${agent.idleTimeoutMs} ms, socket ${paths.socket}${agent.persistentShell ? ', persistent shells' : ''}`,
    );
    return agent;
  }

  status(): AgentStatus {
    let connections = 0;
    let handshakes = 0;
    for (const pool of this.#pools.values()) {
      const s = pool.stats();
      connections += s.connections;
      handshakes += s.handshakes;
    }
    return {
      pid: process.pid,
      uptimeMs: Date.now() - this.#started,
      idleTimeoutMs: this.idleTimeoutMs,
      clients: this.#sessions.size,
      commands: this.#commands,
      connections,
      handshakes,
      persistentShell: this.persistentShell,
      socket: this.paths.socket,
    };
  }

  /**
   * The executor for a target as a client described it, resolved under the client's context (its
   * home, user, working folder, SSH_AUTH_SOCK). Connections are pooled per context and ssh_config
   * file, then by the pool's key (user, host, port, keys, host key settings, jump chain): a client
   * with other settings never gets a connection made under different ones.
   */
  executorFor(target: SshTargetOptions, context: ResolveContext): TargetTransport {
    const key = digest([context, target]);
    const now = performance.now();
    const hit = this.#executors.get(key);
    if (hit && now - hit.at < RESOLVE_TTL_MS) return hit.executor;
    const pool = this.#poolFor(digest([context, target.sshConfig ?? null]));
    let resolved: Promise<ResolvedTarget> | undefined;
    const resolve = () =>
      (resolved ??= resolveTarget(target, context).catch((e: unknown) => {
        resolved = undefined;
        throw e;
      }));
    // Through ssh2, or the system ssh when the target's ssh_config needs it (its master kept here).
    const executor = new TargetTransport(labelOf(target), { pool, resolve, raw: target, paths: context });
    if (this.#executors.size > 10_000) this.#executors.clear();
    this.#executors.set(key, { at: now, executor });
    return executor;
  }

  /** A command (or a connect) started or ended: the idle clock runs only with none. */
  commandStarted(): void {
    this.#commands++;
    this.#armIdle();
  }
  commandEnded(): void {
    this.#commands--;
    this.#armIdle();
  }

  sessionEnded(session: ClientSession): void {
    this.#sessions.delete(session);
    this.#armIdle();
  }

  /** Closes the socket and every connection, removes its files; `closed` resolves after. */
  stop(why: string): Promise<void> {
    return (this.#stopping ??= (async () => {
      this.log(`agent stopping: ${why}`);
      clearTimeout(this.#idleTimer);
      const closing = new Promise<void>((r) => this.#server.close(() => r()));
      for (const s of this.#sessions) s.close();
      for (const pool of this.#pools.values()) pool.close();
      releaseFiles(this.paths);
      await closing;
      this.#markClosed();
    })());
  }

  #poolFor(key: string): SshPool {
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new SshPool({
        idleTimeoutMs: this.idleTimeoutMs,
        persistentShell: this.persistentShell,
        onWarning: (m) => this.log(`warning: ${m}`),
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  #accept(socket: Socket): void {
    // The folder and the socket are checked again on every connection: a mode or owner changed
    // since the start means someone else may be connecting, and nothing is served.
    try {
      checkDir(this.paths);
      checkFile(this.paths.socket, 'socket');
    } catch (e) {
      this.log(`refused a connection: ${(e as Error).message}`);
      socket.destroy();
      return;
    }
    const session = new ClientSession(this, socket);
    this.#sessions.add(session);
    this.#armIdle();
  }

  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#stopping || this.#sessions.size > 0 || this.#commands > 0) return;
    this.#idleTimer = setTimeout(
      () => void this.stop(`idle for ${this.idleTimeoutMs} ms`),
      this.idleTimeoutMs,
    );
  }
}

/** A switch in the environment: set, and neither '' nor '0'. */
function envFlag(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0';
}

function digest(value: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(value) ?? '')
    .digest('hex');
}

/**
 * The lock file holds the agent's pid; one whose process is gone is stale and taken over. The pid
 * is written to a file of this process's own first and linked in place, so the lock never exists
 * empty: two agents starting at once once both took it, the second reading the first's lock before
 * its pid was written and taking it for stale (found by the test of two CLIs at once).
 */
function takeLock(paths: AgentPaths): void {
  const mine = `${paths.lock}.${process.pid}`;
  writeFileSync(mine, String(process.pid), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(mine, paths.lock);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      checkFile(paths.lock, 'file');
      const pid = Number(readFileSync(paths.lock, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new AgentRunningError(pid);
      rmIfThere(paths.lock);
    }
    throw new Error(`could not take the agent's lock ${paths.lock}: another agent is starting`);
  } finally {
    rmIfThere(mine);
  }
}

/**
 * Whether the process runs. A killed agent whose parent has not reaped it yet (a zombie: a detached
 * agent's parent is whatever init the machine has, and some reap late) still answers signal 0, so
 * its state is read from /proc too; without /proc, signal 0 decides.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function releaseFiles(paths: AgentPaths): void {
  // The lock last, so that a new agent cannot start while this one's files are still there.
  for (const file of [paths.socket, paths.token, paths.lock]) rmIfThere(file);
}

function rmIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
