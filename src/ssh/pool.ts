// The connection pool: one SshConnection per resolved target (its poolKey: user, host, port,
// identities, host key settings and jump chain), shared by every shell and command that names it.
// A connection that died is replaced on next use. Handshakes in flight are capped globally so that
// `Promise.all` over a thousand hosts does not start a thousand key exchanges at once.
import type { LookupFunction } from 'node:net';
import { openFilesLimit } from '../local/fd-limit.js';
import { UsageError } from '../process/errors.js';
import { unhonouredWarning } from './config-keywords.js';
import { SshConnection, DEFAULT_MAX_SESSIONS } from './connection.js';
import { ControlMasters } from './openssh/control-master.js';
import { Semaphore } from './semaphore.js';
import type { OpensshNeed, ResolvedTarget, UnhonouredSetting } from './types.js';

/**
 * Default cap on SSH handshakes in flight, for the whole process. Measured here (2 CPUs, client and
 * harness sshd on one machine, 150 hosts through Promise.all): caps of 4, 8, 32 and 128 all finished
 * in 10-13 s, the machine's sshd being the bottleneck, and none failed once the connect timeout
 * stopped counting the wait for a slot. Against remote hosts a handshake is mostly round trips, so
 * more in flight hide latency; 32 keeps that while a thousand at once cannot starve the event loop.
 */
export const DEFAULT_MAX_HANDSHAKES = 32;
/**
 * Commands run over an exec request each unless a target or the pool asks for the persistent shell
 * per connection (src/ssh/shell-session.ts): it saves about two round trips a command and 1.2-1.8×
 * of fleetsh's CPU (measured here, 20 hosts × 50 `/bin/true`; the hosts' CPU is the same;
 * docs/benchmarks.md), but reads a few rare endings differently (an early `exit 130`, a detached
 * child that keeps the output: docs/ssh.md), so exact exec semantics stay the default.
 */
export const DEFAULT_PERSISTENT_SHELL = false;
/** Unused connections are closed after this long. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/**
 * Unused connections kept at most: a quarter of the open-files limit (256 under the common 1024),
 * so that a fleet run over thousands of hosts needs descriptors for its window and this many, not
 * one per host it has visited. Past it, the connection unused the longest is closed.
 */
export function defaultMaxIdle(): number {
  return Math.max(16, Math.floor((openFilesLimit() ?? 1024) / 4));
}

export interface SshPoolOptions {
  /** Handshakes in flight at once, for all hosts together (default 32). */
  maxHandshakes?: number;
  /** Close connections unused for this long (ms, default 60 s). */
  idleTimeoutMs?: number;
  /** Unused connections kept at most; past it the one unused longest is closed (default: a quarter of `ulimit -n`). */
  maxIdle?: number;
  /** Channels per connection when the target does not set maxSessions (default 10, OpenSSH's MaxSessions). */
  maxSessions?: number;
  /** Run commands on a persistent shell per connection (default true); a target's `persistentShell` wins. */
  persistentShell?: boolean;
  /**
   * Where one-time warnings go (default: process.emitWarning): hostKeyPolicy 'off', a host key that
   * could not be recorded, and each ssh_config keyword a target's connection does not honour (once
   * per keyword, naming the file and line where it was first met).
   */
  onWarning?: (message: string) => void;
  /**
   * Where one-time notices go: what fleetsh chose without being asked (the OpenSSH transport for a
   * host whose ssh_config needs it, and why). Default: nowhere; the CLI prints them with --verbose.
   */
  onNotice?: (message: string) => void;
  /**
   * How host names become addresses (default: the system's, dns.lookup, as ssh uses). For a
   * service directory, or for tests that must not send DNS queries.
   */
  lookup?: LookupFunction;
}

export class SshPool {
  readonly handshakes: Semaphore;
  /** The OpenSSH transport's masters, one per target (src/ssh/openssh/control-master.ts). */
  readonly masters: ControlMasters;
  #idleTimeoutMs: number;
  /** Unset: the default, read from the open-files limit when the first connection goes idle. */
  #maxIdle: number | undefined;
  #maxSessions: number;
  #persistentShell: boolean;
  #onWarning: (message: string) => void;
  #onNotice: ((message: string) => void) | undefined;
  #lookup: LookupFunction | undefined;
  readonly #connections = new Map<string, SshConnection>();
  /** Connections no longer handed out that still carry work; close() ends them too. */
  readonly #retired = new Set<SshConnection>();
  /** Connections nothing uses, the one unused longest first. */
  readonly #idle = new Set<SshConnection>();
  readonly #warned = new Set<string>();
  #handshakes = 0;

  constructor(options: SshPoolOptions = {}) {
    checkPoolOptions(options);
    this.handshakes = new Semaphore(options.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES);
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    // The default waits for the first idle connection: the limit may be changed after the pool is
    // made (`$`'s pool is made when the library loads).
    this.#maxIdle = options.maxIdle;
    openFilesLimit(); // read now too, for when no descriptor is left to read it with
    this.#maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.#persistentShell = options.persistentShell ?? DEFAULT_PERSISTENT_SHELL;
    this.#onWarning = options.onWarning ?? ((m) => process.emitWarning(m, { code: 'FLEETSH_SSH' }));
    this.#onNotice = options.onNotice;
    this.#lookup = options.lookup;
    this.masters = new ControlMasters(() => ({
      handshakes: this.handshakes,
      idleTimeoutMs: this.#idleTimeoutMs,
      maxSessions: this.#maxSessions,
    }));
  }

  /** Changes the pool's settings; they apply to connections made from now on (and the handshake cap at once). */
  configure(options: SshPoolOptions): void {
    checkPoolOptions(options);
    if (options.maxHandshakes !== undefined) this.handshakes.limit = options.maxHandshakes;
    if (options.idleTimeoutMs !== undefined) this.#idleTimeoutMs = options.idleTimeoutMs;
    if (options.maxIdle !== undefined) this.#maxIdle = options.maxIdle;
    if (options.maxSessions !== undefined) this.#maxSessions = options.maxSessions;
    if (options.persistentShell !== undefined) this.#persistentShell = options.persistentShell;
    if (options.onWarning !== undefined) this.#onWarning = options.onWarning;
    if (options.onNotice !== undefined) this.#onNotice = options.onNotice;
    if (options.lookup !== undefined) this.#lookup = options.lookup;
  }

  /** Whether targets that do not say run their commands on a persistent shell. */
  get persistentShell(): boolean {
    return this.#persistentShell;
  }

  /** Connections currently open or opening. */
  get size(): number {
    return this.#connections.size;
  }

  /** Counters: handshake attempts so far, connections open or opening, handshakes in flight and queued. */
  stats(): { handshakes: number; connections: number; handshaking: number; queued: number } {
    return {
      handshakes: this.#handshakes,
      connections: this.#connections.size,
      handshaking: this.handshakes.active,
      queued: this.handshakes.waiting,
    };
  }

  /** The live connection for a target, made (and shared) on first use. Not yet connected: call connect(). */
  connection(target: ResolvedTarget): SshConnection {
    this.#warnUnhonoured(target);
    const existing = this.#connections.get(target.poolKey);
    if (existing && existing.state !== 'closed' && !existing.retired) return existing;
    const hop = target.jump.at(-1);
    const via = hop ? this.connection(hop) : undefined;
    const conn = new SshConnection(target, {
      handshakes: this.handshakes,
      via,
      idleTimeoutMs: this.#idleTimeoutMs,
      maxSessions: this.#maxSessions,
      lookup: this.#lookup,
      onClose: (c) => {
        this.#forget(c);
        this.#retired.delete(c);
        this.#idle.delete(c);
      },
      onIdle: (c, idle) => this.#noteIdle(c, idle),
      onRetire: (c) => {
        this.#forget(c);
        this.#retired.add(c);
      },
      onWarning: (m) => this.#warn(m),
      onHandshake: () => this.#handshakes++,
    });
    this.#connections.set(target.poolKey, conn);
    return conn;
  }

  /**
   * For a dry run: the host key the target's server presents, read by a connection of its own that
   * hangs up before authentication (SshConnection#probeHostKey). A target behind jump hosts is
   * reached through the pooled connection of its last hop, which logs in as a run would.
   * `warn: false`: no warning about ssh_config keywords ssh2 does not honour.
   */
  async probeHostKey(
    target: ResolvedTarget,
    signal?: AbortSignal,
    { warn = true }: { warn?: boolean } = {},
  ): Promise<Buffer> {
    // A host a run would reach through the system ssh: ssh honours those keywords, nothing to say.
    if (warn) this.#warnUnhonoured(target);
    const hop = target.jump.at(-1);
    const probe = new SshConnection(target, {
      handshakes: this.handshakes,
      via: hop ? this.connection(hop) : undefined,
      idleTimeoutMs: this.#idleTimeoutMs,
      lookup: this.#lookup,
      onHandshake: () => this.#handshakes++,
    });
    const stop = () => probe.close(String(signal?.reason ?? 'the probe was cancelled'));
    if (signal?.aborted) stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      return await probe.probeHostKey();
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  /** A connected connection for the target (handshake shared with concurrent callers). */
  async connect(target: ResolvedTarget): Promise<SshConnection> {
    const conn = this.connection(target);
    await conn.connect();
    return conn;
  }

  /**
   * Closes the target's connection now, with the same goodbye as close(), if it has one and nothing
   * uses it (a command, transfer or tunnel on it, a connection through it); says whether it did. For a
   * caller that is done with a host while others still run: one connection less to close at the end.
   * A connection in use is left to close() (two names for one host share it).
   */
  release(target: ResolvedTarget): boolean {
    const conn = this.#connections.get(target.poolKey);
    if (!conn || conn.state !== 'ready' || !conn.unused) return false;
    conn.close('the connection was released: its host was done');
    return true;
  }

  /**
   * Closes every connection (connections through jump hosts first) at once, and stops the OpenSSH
   * transport's masters: resolves once they have exited.
   */
  close(): Promise<void> {
    const all = [...this.#connections.values(), ...this.#retired];
    all.sort((a, b) => b.target.jump.length - a.target.jump.length);
    for (const c of all) c.close();
    this.#connections.clear();
    this.#retired.clear();
    this.#idle.clear();
    return this.masters.close();
  }

  #noteIdle(conn: SshConnection, idle: boolean): void {
    this.#idle.delete(conn);
    if (!idle) return;
    this.#idle.add(conn);
    const maxIdle = (this.#maxIdle ??= defaultMaxIdle());
    while (this.#idle.size > maxIdle) {
      const oldest = this.#idle.values().next().value!;
      this.#idle.delete(oldest);
      oldest.close(`the connection was closed to keep at most ${maxIdle} unused (maxIdle)`);
    }
  }

  #forget(conn: SshConnection): void {
    if (this.#connections.get(conn.target.poolKey) === conn) this.#connections.delete(conn.target.poolKey);
  }

  /** A notice, given to onNotice once per message. */
  notice(message: string): void {
    if (!this.#onNotice || this.#warned.has(message)) return;
    this.#warned.add(message);
    this.#onNotice(message);
  }

  #warn(message: string, key = message): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#onWarning(message);
  }

  /** ssh_config keywords the target's connection will not honour: one warning per keyword for the pool's life. */
  #warnUnhonoured(target: ResolvedTarget): void {
    // Jump hosts first: they are connected to first. (Called for every command: no allocation.)
    for (const hop of target.jump) this.#warnSettings(hop.unhonoured, hop.opensshNeeds);
    this.#warnSettings(target.unhonoured, target.opensshNeeds);
  }

  /**
   * A setting that is also one of the host's OpenSSH needs is left to the connection's one warning
   * about transport 'ssh2' being set for such a host (connection.ts), which names every need.
   */
  #warnSettings(settings: readonly UnhonouredSetting[], needs: readonly OpensshNeed[]): void {
    for (const u of settings) {
      const key = `ssh_config:${u.keyword.toLowerCase()}`;
      if (this.#warned.has(key)) continue;
      if (needs.length && needs.some((n) => sameSetting(n, u))) continue;
      this.#warn(unhonouredWarning(u), key);
    }
  }
}

function sameSetting(need: OpensshNeed, setting: UnhonouredSetting): boolean {
  return (
    need.keyword.toLowerCase() === setting.keyword.toLowerCase() &&
    need.file === setting.file &&
    need.line === setting.line
  );
}

/** The pool's numeric options, validated where they come in, each error naming its option. */
function checkPoolOptions(options: SshPoolOptions): void {
  if (options.persistentShell !== undefined && typeof options.persistentShell !== 'boolean')
    throw new UsageError(
      `pool option persistentShell: expected true or false, got ${JSON.stringify(options.persistentShell)}`,
    );
  const min = { maxHandshakes: 1, idleTimeoutMs: 0, maxIdle: 0, maxSessions: 1 } as const;
  for (const [name, least] of Object.entries(min) as Array<[keyof typeof min, number]>) {
    const v = options[name];
    if (v !== undefined && !(Number.isInteger(v) && v >= least))
      throw new UsageError(
        `pool option ${name}: expected a whole number ≥ ${least}, got ${JSON.stringify(v)}`,
      );
  }
}
