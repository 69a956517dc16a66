// One authenticated SSH connection to one resolved target: the handshake (host key check,
// authentication), channels under the server's MaxSessions, SFTP sessions, forwarded TCP streams
// (for hosts behind this one), protocol keepalive, and whether it keeps Node's event loop alive.
//
// A connection only keeps the process alive while something uses it (a handshake, a command, a
// transfer, a connection through it); otherwise its socket is unref'd and an unref'd idle timer
// closes it, so a script that never calls close() still ends when its work ends.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { AnyAuthMethod, ClientChannel, ConnectConfig, ParsedKey, SFTPWrapper } from 'ssh2';
import { isOutOfFiles, outOfFilesError } from '../local/fd-limit.js';
import { sleep } from '../process/abort.js';
import { ConnectionError, formatMs, type ConnectionStage } from '../process/errors.js';
import type { Pty } from '../process/exec-options.js';
import {
  channelError,
  channelsRefused,
  classifyError,
  foreignGreeting,
  forwardError,
  handshakeFailure,
  isChannelRefused,
  isSshVersionLine,
  notAnSshServer,
  ptyRefused,
  serverClosed,
  timedOut,
  type ClassifyContext,
} from './classify.js';
import { DEFAULT_ALGORITHMS } from './algorithms.js';
import { loadIdentities, type LoadedIdentities } from './identity.js';
import {
  knownKeyTypes,
  lookupKnownHosts,
  preferKnownHostKeyAlgorithms,
  sshFingerprint,
  verifyHostKey,
  type HostKeyVerdict,
  type KnownHostsLookup,
} from './known-hosts.js';
import { startProxyCommand, type ProxyProcess } from './proxy-command.js';
import {
  describeNeeds,
  needsClause,
  OPENSSH_TRANSPORT_HINT,
  unknownKeyOfCertifiedHost,
} from './openssh-needs.js';
import { Semaphore, type Release } from './semaphore.js';
import { loadSsh2, type Ssh2 } from './ssh2-load.js';
import { tuneProtocol } from './ssh2-protocol.js';
import { startSftpSooner } from './ssh2-sftp-start.js';
import type { HostKeyInfo, ResolvedTarget } from './types.js';

type Client = InstanceType<Ssh2['Client']>;
/** known_hosts as a connection attempt read it, and the host key algorithms it offers from it. */
type KnownHosts = { lookup: KnownHostsLookup | undefined; algorithms: string[] };

/** How long after its caller gave up a request may still be answered before the connection is retired. */
export const LATE_ANSWER_MS = 2000;
/** How long a kept SFTP session waits unused for the next transfer before it is closed. */
export const SFTP_IDLE_MS = 60_000;
const noop = () => {};
/** OpenSSH's default MaxSessions. */
export const DEFAULT_MAX_SESSIONS = 10;
/** What a host key probe authenticates with: nothing (it stops before authentication). */
const NO_IDENTITIES: LoadedIdentities = { keys: [], skipped: [] };
/** ssh2 1.17's host key algorithms, in its order (reordered per host by known_hosts). */
const DEFAULT_HOST_KEY_ALGORITHMS = DEFAULT_ALGORITHMS.serverHostKey as string[];
/** OpenSSH waits this long between ConnectionAttempts. */
const CONNECTION_ATTEMPT_INTERVAL_MS = 1000;

/** ssh2 asked for agent forwarding and the server said no: the command is opened again without it. */
class AgentForwardingRefused extends Error {}

export interface ConnectionOptions {
  /** Global cap on handshakes in flight (shared by a pool). */
  handshakes: Semaphore;
  /** The connection to the previous hop, when this target is reached through a jump host. */
  via?: SshConnection;
  idleTimeoutMs: number;
  /** Channels at once when the target does not say (its maxSessions); default 10. */
  maxSessions?: number;
  /** Called once when the connection is closed for good (the pool forgets it). */
  onClose?: (conn: SshConnection) => void;
  /** Called once when the connection stops taking new work (the pool forgets it). */
  onRetire?: (conn: SshConnection) => void;
  /** Called when nothing uses the connection any more (true) and when something does again (false). */
  onIdle?: (conn: SshConnection, idle: boolean) => void;
  /** Called when a handshake attempt starts (for statistics). */
  onHandshake?: () => void;
  /** One-time warnings (hostKeyPolicy 'off', a host key that could not be recorded). */
  onWarning?: (message: string) => void;
  /** Name resolution for the TCP connection (default dns.lookup). */
  lookup?: net.LookupFunction;
}

export type ConnectionState = 'new' | 'connecting' | 'ready' | 'closed';

export class SshConnection {
  readonly target: ResolvedTarget;
  readonly channels: Semaphore;
  #opts: ConnectionOptions;
  #client: Client | undefined;
  /** What keeps this process alive on our side of a direct connection: the socket or the ProxyCommand. */
  #local: { ref(): void; unref(): void } | undefined;
  /** The ProxyCommand of the current attempt, if the target has one. */
  #proxy: ProxyProcess | undefined;
  /** What the SSH protocol runs over: the TCP socket, or a forwarded stream through the jump host. */
  #transport: Duplex | undefined;
  /** The server's host key blob from the last handshake. */
  #hostKey: Buffer | undefined;
  /** The first bytes the server sent on the current attempt, for telling sshd from something else. */
  #greeting: Buffer | undefined;
  #state: ConnectionState = 'new';
  /** How far the current connection attempt got: what a failure is classified by. */
  #stage: ConnectionStage = 'tcp';
  /** Whether the server showed its host key in the current attempt. */
  #hostKeySeen = false;
  #ready: Promise<void> | undefined;
  #closedError: ConnectionError | undefined;
  #holds = 0;
  #dependents = 0;
  #viaHold: Release | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #idleSince = 0;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  /** Session channels (exec, SFTP) the server has opened and not yet closed. */
  #sessions = 0;
  #closeListeners = new Set<(err: ConnectionError) => void>();
  /** Told when the server refuses a session channel (it is at its MaxSessions). */
  #refusalListeners = new Set<() => void>();
  /** Aborted when the connection closes: every wait on it (slot, banner, handshake, channel) ends then. */
  readonly #closing = new AbortController();
  /** Why the connection stopped taking new work (a request the server left unanswered), if it did. */
  #retiredBecause: string | undefined;
  /** Aborted when the connection is retired or closed. */
  readonly #retiring = new AbortController();
  /** The server refused agent forwarding once: it is not asked again on this connection. */
  #agentForwardingRefused = false;
  /** An SFTP session a transfer ended cleanly and gave back, for the next transfer (see keepSftp). */
  #idleSftp: { sftp: SFTPWrapper; release: Release; drop: () => void } | undefined;

  constructor(target: ResolvedTarget, opts: ConnectionOptions) {
    this.target = target;
    this.#opts = opts;
    this.channels = new Semaphore(target.maxSessions ?? opts.maxSessions ?? DEFAULT_MAX_SESSIONS);
    if (opts.via) opts.via.#dependents++;
  }

  get state(): ConnectionState {
    return this.#state;
  }
  get label(): string {
    return this.target.label;
  }
  /** Why the connection ended, once it has. */
  get closedError(): ConnectionError | undefined {
    return this.#closedError;
  }
  /**
   * Set once the server left a request unanswered past its caller's patience (a channel open, an
   * exec, a channel close, a forwarded connection): the pool hands out a fresh connection from then
   * on, and this one closes as soon as nothing uses it, taking the server's unanswered channels with it.
   */
  get retired(): boolean {
    return this.#retiredBecause !== undefined;
  }
  /** Nothing uses the connection: no command, transfer, session or tunnel on it, no connection through it. */
  get unused(): boolean {
    return this.#holds === 0 && this.#dependents === 0;
  }
  /** Aborts when the connection is retired or closed: for work that is pointless on a stuck server. */
  get retiring(): AbortSignal {
    return this.#retiring.signal;
  }
  /** The host key the server presented in the last handshake; once ready, it has proved it holds it. */
  get hostKey(): HostKeyInfo | undefined {
    const blob = this.#hostKey;
    if (!blob || blob.length < 4) return undefined;
    const typeLength = blob.readUInt32BE(0);
    return {
      type: blob.subarray(4, 4 + typeLength).toString('latin1'),
      fingerprint: sshFingerprint(blob),
    };
  }
  /** The ssh2 client, once ready. */
  get client(): Client {
    if (!this.#client || this.#state !== 'ready') throw this.#closedError ?? this.#notReady();
    return this.#client;
  }

  /** Connects once; concurrent callers share the one handshake. */
  connect(): Promise<void> {
    return (this.#ready ??= this.#connect(false));
  }

  /**
   * For a dry run: dials (through the jump host's connection, which does log in), runs the key
   * exchange, in which the server signs with its host key and so proves it holds it, and hangs up
   * before authentication. Nothing is checked against known_hosts or recorded, no key file is read,
   * nothing is offered to the server. Resolves with the key's blob; the connection is closed after.
   * For a connection of its own (SshPool#probeHostKey), never a pooled one.
   */
  async probeHostKey(): Promise<Buffer> {
    try {
      await (this.#ready ??= this.#connect(true));
      return this.#hostKey!;
    } finally {
      this.close('the host key probe is over');
    }
  }

  /**
   * Keeps the process alive (and the idle timer off) until the returned function is called.
   * A connection through a jump host holds the jump host's connection in turn.
   */
  hold(): Release {
    if (this.#holds++ === 0) {
      this.#clearIdle();
      if (this.#opts.via) this.#viaHold = this.#opts.via.hold();
      else this.#local?.ref();
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.#holds === 0) {
        if (this.#opts.via) {
          this.#viaHold?.();
          this.#viaHold = undefined;
        } else this.#local?.unref();
        if (!this.#closeIfRetiredAndUnused()) this.#armIdle();
      }
    };
  }

  /**
   * Stops handing this connection out: the server left a request unanswered, so it may be stuck.
   * Work already on it goes on; it closes once nothing uses it.
   */
  retire(reason: string): void {
    if (this.#state === 'closed' || this.#retiredBecause !== undefined) return;
    this.#retiredBecause = reason;
    this.#retiring.abort(new ConnectionError('closed', this.label, `the connection was retired: ${reason}`));
    this.#opts.onRetire?.(this);
    this.#closeIfRetiredAndUnused();
  }

  #closeIfRetiredAndUnused(): boolean {
    if (this.#retiredBecause === undefined || this.#holds > 0 || this.#dependents > 0) return false;
    this.#finish(
      new ConnectionError('closed', this.label, `the connection was retired: ${this.#retiredBecause}`),
    );
    this.#transport?.destroy(); // the server left requests unanswered: no goodbye to wait for
    return true;
  }

  /**
   * Called each time the server refuses a session channel, past its MaxSessions (a persistent shell
   * then gives its channel back); returns an unsubscribe function.
   */
  onRefusal(listener: () => void): () => void {
    this.#refusalListeners.add(listener);
    return () => this.#refusalListeners.delete(listener);
  }

  /** Called with the reason when the connection ends; returns an unsubscribe function. */
  onClose(listener: (err: ConnectionError) => void): () => void {
    if (this.#closedError) {
      listener(this.#closedError);
      return () => {};
    }
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /**
   * Opens an exec channel under the channel cap. A channel the server refuses (OpenSSH answers
   * "open failed" past its MaxSessions) is queued again, and the cap learns the server's limit.
   */
  async exec(
    command: string,
    options: {
      signal?: AbortSignal;
      priority?: boolean;
      attach?: (channel: ClientChannel) => void;
      /** What to do with a channel that opens after `signal` aborted (default: close it). */
      abandon?: (channel: ClientChannel) => void;
      /** A pseudo-terminal, requested before the command (a refusal fails the open). */
      pty?: Pty;
    } = {},
  ): Promise<{ channel: ClientChannel; release: Release }> {
    // `attach` runs inside ssh2's callback: the exit status of a quick command can arrive in the same
    // read as the channel confirmation, before any promise continuation would see the channel.
    const attach = options.attach;
    const env = this.target.env;
    for (;;) {
      const forward = this.target.forwardAgent !== undefined && !this.#agentForwardingRefused;
      const execOptions = {
        ...(options.pty ? { pty: options.pty } : {}),
        // Sent without asking for a reply, as ssh does: a server that refuses a variable says nothing.
        ...(Object.keys(env).length > 0 ? { env } : {}),
        // Asked on every session; ssh2 sends the request on the first only (sshd's is per connection).
        ...(forward ? { agentForward: true } : {}),
      };
      try {
        const { channel, release } = await this.#openWithRetry<ClientChannel>(
          (client, cb) =>
            client.exec(command, execOptions, (err, ch) => {
              if (!err && attach) attach(ch);
              // ssh2 clears this flag when the server refused its agent forwarding request.
              if (err && forward && !isChannelRefused(err) && !agentForwardingOn(client))
                return cb(new AgentForwardingRefused(), ch);
              // An open refusal carries a reason code; without one, the session opened and a request failed.
              cb(err && options.pty && !isChannelRefused(err) ? ptyRefused(this.label, err) : err, ch);
            }),
          options,
          'a command channel',
          options.abandon ?? ((ch) => ch.close()),
        );
        return { channel, release };
      } catch (e) {
        if (!(e instanceof AgentForwardingRefused)) throw e;
        // ssh asks without wanting a reply, so a refusal never stops its command: nor does it here.
        this.#agentForwardingRefused = true;
        this.#opts.onWarning?.(
          'fleetsh: a server refused agent forwarding (ForwardAgent, -A; AllowAgentForwarding no in its sshd_config?): commands on it run without the agent',
        );
      }
    }
  }

  /**
   * An SFTP session (it counts against the channel cap like any session): the one a previous
   * transfer gave back with keepSftp if there is one, else a new one.
   */
  async sftp(options: { signal?: AbortSignal } = {}): Promise<{ sftp: SFTPWrapper; release: Release }> {
    const idle = this.#idleSftp;
    if (idle && this.#state === 'ready' && this.#retiredBecause === undefined && !options.signal?.aborted) {
      this.#idleSftp = undefined;
      idle.drop();
      return { sftp: idle.sftp, release: idle.release };
    }
    const { channel, release } = await this.#openWithRetry<SFTPWrapper>(
      (client, cb) => client.sftp(cb as (err: Error | undefined, sftp: SFTPWrapper) => void),
      options,
      'an SFTP session',
      (sftp) => sftp.end(),
    );
    return { sftp: channel, release };
  }

  /**
   * Takes back an SFTP session whose transfer ended cleanly (every request answered, no error, no
   * timeout), so the next transfer skips the channel open, subsystem request and INIT/VERSION: two
   * round trips a copy. One is kept at most; it does not hold the connection open, closes with it,
   * after SFTP_IDLE_MS unused, when its channel slot is wanted, or when the server refuses a session
   * (it is past its MaxSessions). A session that failed is closed by its transfer, never given back.
   */
  keepSftp(sftp: SFTPWrapper, release: Release): void {
    const end = () => {
      sftp.on('error', noop);
      sftp.once('close', release);
      sftp.end();
    };
    // Not kept while another request waits for its channel slot.
    if (
      this.#state !== 'ready' ||
      this.#retiredBecause !== undefined ||
      this.#idleSftp ||
      this.channels.waiting > 0
    )
      return end();
    const onClose = () => {
      if (this.#idleSftp?.sftp === sftp) this.#idleSftp = undefined;
      clearTimeout(timer);
      release();
    };
    const timer = setTimeout(() => this.#closeIdleSftp(), SFTP_IDLE_MS);
    timer.unref();
    sftp.on('error', noop); // a protocol error ends the session: 'close' follows
    sftp.once('close', onClose);
    this.#idleSftp = {
      sftp,
      release,
      drop: () => {
        clearTimeout(timer);
        sftp.removeListener('close', onClose);
        sftp.removeListener('error', noop);
      },
    };
  }

  /** Ends the kept SFTP session, if any; its channel slot is given back once the server closed it. */
  #closeIdleSftp(): void {
    const idle = this.#idleSftp;
    if (!idle) return;
    this.#idleSftp = undefined;
    idle.drop();
    idle.sftp.on('error', noop);
    idle.sftp.once('close', idle.release);
    try {
      idle.sftp.end();
    } catch {
      idle.release(); // the channel is already gone
    }
  }

  /**
   * A TCP stream from the server to host:port (direct-tcpip; not a session, no channel cap). Rejects
   * when `signal` aborts first; a stream the server opens after that is closed, and the connection
   * retired (the server left the request unanswered).
   */
  forwardOut(host: string, port: number, options: { signal?: AbortSignal } = {}): Promise<ClientChannel> {
    return this.#request<ClientChannel>(
      (client, cb) => client.forwardOut('127.0.0.1', 0, host, port, cb),
      options.signal,
      `a forwarded connection to ${host}:${port}`,
      (stream) => stream.destroy(),
    );
  }

  /** Closes the connection (and, with it, every channel and tunnel on it). */
  close(reason = 'the connection was closed by this program'): void {
    this.#finish(new ConnectionError('closed', this.label, reason));
  }

  // ---- handshake -----------------------------------------------------------------------------

  async #connect(probe: boolean): Promise<void> {
    this.#state = 'connecting';
    const target = this.target;
    const release = this.hold();
    try {
      // The identities, the host key types known for this host and ssh2 itself (loaded on first use)
      // are prepared together before dialling. Dialling first would overlap them with the TCP
      // handshake, but a herd of hundreds dialled at once then fails under sshd's MaxStartups (the
      // 500-host stress test showed it), so connections are spread by their preparation, as ssh's are.
      let prepared: [LoadedIdentities, KnownHosts, Ssh2] | undefined;
      // The connect timeout counts from the first attempt, not from the wait for a handshake slot.
      let deadline = Infinity;
      let tcpAttempts = 0;
      for (let attempt = 1; ; attempt++) {
        if (this.#closedError) throw this.#closedError;
        let result: unknown;
        try {
          prepared ??= await Promise.all([
            probe ? NO_IDENTITIES : loadIdentities(target).then((ids) => this.#warnSecurityKeys(ids)),
            this.#knownHosts(),
            loadSsh2(),
          ]);
        } catch (e) {
          if (!isOutOfFiles(e)) throw e;
          result = e;
        }
        if (deadline === Infinity) deadline = performance.now() + target.connectTimeoutMs;
        // A handshake slot is taken only once the server has spoken: a host that never sends its
        // banner (a black hole) waits out its connect timeout without holding one.
        let sock: Duplex | undefined;
        let tcpFailed = false;
        if (prepared) {
          try {
            tcpAttempts++;
            sock = await this.#openTransport(Math.max(1, Math.round(deadline - performance.now())));
          } catch (e) {
            result = e;
            tcpFailed = this.#stage === 'tcp';
          }
        }
        if (sock && prepared) {
          const slot = await this.#opts.handshakes.acquire({ signal: this.#closing.signal }).catch((e) => {
            sock!.destroy();
            throw e;
          });
          this.#opts.onHandshake?.();
          try {
            // The wait for a slot is ours, not the server's: the handshake gets a full connect timeout.
            const [identities, knownHosts, ssh2] = prepared;
            await this.#handshake(ssh2, sock, identities, knownHosts, target.connectTimeoutMs, probe);
          } catch (e) {
            result = e;
          } finally {
            slot();
          }
        }
        if (!result) break;
        // ConnectionAttempts: a direct TCP connect that failed is tried again 1 s later, as ssh does,
        // within the connect timeout (ssh's is shared by its attempts too). A name that does not
        // resolve is not retried: ssh resolves it once, before its attempts.
        if (
          tcpFailed &&
          tcpAttempts < target.connectionAttempts &&
          !this.#opts.via &&
          target.proxyCommand === undefined &&
          !(result instanceof ConnectionError && result.kind === 'dns') &&
          performance.now() + CONNECTION_ATTEMPT_INTERVAL_MS < deadline &&
          !this.#closedError
        ) {
          await sleep(CONNECTION_ATTEMPT_INTERVAL_MS, this.#closing.signal);
          continue;
        }
        // A server over its MaxStartups drops new connections before its banner, and this machine
        // may be out of descriptors for a moment (the pool closes idle connections past maxIdle):
        // try again, with jitter, while the connect timeout allows.
        const wait = Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random());
        const again = isOutOfFiles(result) || (result instanceof ConnectionError && result.retryable);
        if (again && performance.now() + wait < deadline - 50 && !this.#closedError) {
          await sleep(wait, this.#closing.signal);
          continue;
        }
        throw result;
      }
      if (probe) return; // probeHostKey closes it
      this.#state = 'ready';
      this.#startKeepalive();
    } catch (e) {
      // Out of descriptors shows up as a socket error, an unreadable key or a failed module load:
      // name it as what it is, wherever it came from.
      const err =
        !this.#closedError && isOutOfFiles(e)
          ? outOfFilesError(this.label, e)
          : e instanceof ConnectionError
            ? e
            : classifyError(e, this.#ctx());
      this.#finish(err);
      throw err;
    } finally {
      release();
    }
  }

  /** A FIDO key (sk-) among the identities is skipped (ssh2 cannot sign with one): say so, once. */
  #warnSecurityKeys(ids: LoadedIdentities): LoadedIdentities {
    // A host whose ssh_config needs OpenSSH (its sk- key among them) held to ssh2 is warned about
    // once, with all its needs, where the connection starts.
    if (this.target.opensshNeeds.length) return ids;
    for (const s of ids.skipped) {
      const type = s.publicKey && keyTypeOf(s.publicKey);
      if (type?.startsWith('sk-'))
        this.#opts.onWarning?.(
          `${s.label} is a security key (${type}), which the ssh2 transport cannot use: it is skipped; --transport openssh (transport: openssh in the inventory) would use it`,
        );
    }
    return ids;
  }

  /**
   * known_hosts for this host, read once for the attempt: the host key algorithms to offer (those it
   * holds for the host first) and what the key the server shows is checked against.
   */
  async #knownHosts(): Promise<KnownHosts> {
    // HostKeyAlgorithms with + or - (or not set) is reordered, a list or ^ is not: OpenSSH's rule.
    const offered = this.target.algorithms.serverHostKey ?? DEFAULT_HOST_KEY_ALGORITHMS;
    try {
      const lookup = await lookupKnownHosts(this.target.knownHostsFiles, this.target.knownHostsName);
      return {
        lookup,
        algorithms: this.target.hostKeyAlgorithmsAsGiven
          ? offered
          : preferKnownHostKeyAlgorithms(knownKeyTypes(lookup), offered),
      };
    } catch {
      // Out of descriptors for a moment: the host key check reads the files again, and reports them.
      return { lookup: undefined, algorithms: offered };
    }
  }

  /** What classifyError needs: the target, and how far the connection got (by default, so far). */
  #ctx(stage: ConnectionStage = this.#stage): ClassifyContext {
    const t = this.target;
    return {
      label: t.label,
      hostname: t.hostname,
      port: t.port,
      user: t.user,
      connectTimeoutMs: t.connectTimeoutMs,
      via: t.jump.map((j) => j.label),
      stage,
      hostKeySeen: this.#hostKeySeen,
    };
  }

  #notReady(): ConnectionError {
    return new ConnectionError('closed', this.label, 'the connection is not ready');
  }

  /**
   * Opens the byte stream to the server (a socket, or a stream through the jump host) and waits for
   * its first bytes, the SSH banner. Those bytes are put back for ssh2 to read.
   */
  async #openTransport(timeoutMs: number): Promise<Duplex> {
    const target = this.target;
    this.#greeting = undefined;
    this.#proxy = undefined;
    this.#stage = 'tcp';
    this.#hostKeySeen = false;
    let sock: Duplex;
    if (this.#opts.via) {
      const via = this.#opts.via;
      try {
        await via.connect();
      } catch (e) {
        // The target is unreachable for the jump host's reason; say both.
        const err = e as ConnectionError;
        throw new ConnectionError(
          err.kind ?? 'protocol',
          target.label,
          `through jump host ${err.message ?? e}`,
          {
            hint: err.hint,
            cause: e,
          },
        );
      }
      try {
        sock = await via.forwardOut(target.hostname, target.port, {
          signal: AbortSignal.any([this.#closing.signal, AbortSignal.timeout(timeoutMs)]),
        });
      } catch (e) {
        if (this.#closedError) throw this.#closedError;
        if (e instanceof DOMException && e.name === 'TimeoutError')
          throw classifyError(timedOut(), this.#ctx());
        throw forwardError(e, target, via.label);
      }
      this.#stage = 'banner'; // the jump host has connected to the target
    } else if (target.proxyCommand !== undefined) {
      const proxy = startProxyCommand(target.proxyCommand, target.label);
      if (this.#holds === 0) proxy.unref();
      this.#local = this.#proxy = proxy;
      sock = proxy.stream;
      this.#stage = 'banner'; // what the proxy has done is not seen from here
    } else {
      const socket = net.connect({
        host: target.hostname,
        port: target.port,
        lookup: this.#opts.lookup,
        ...(target.bindAddress !== undefined ? { localAddress: target.bindAddress } : {}),
      });
      socket.once('connect', () => (this.#stage = 'banner'));
      socket.setNoDelay(true);
      if (this.#holds === 0) socket.unref();
      this.#local = socket;
      sock = socket;
    }
    const proxy = this.#proxy;

    return await new Promise<Duplex>((resolve, reject) => {
      const done = (err?: unknown) => {
        clearTimeout(timer);
        this.#closing.signal.removeEventListener('abort', onClosing);
        sock.off('data', onData).off('error', lost).off('close', onClose);
        if (err === undefined) return resolve(sock);
        // A ProxyCommand's stream reports its own destruction as an error: nobody is left to hear it.
        sock.on('error', () => {});
        sock.destroy();
        reject(err instanceof ConnectionError ? err : classifyError(err, this.#ctx()));
      };
      const onData = (chunk: Buffer) => {
        sock.pause();
        sock.unshift(chunk);
        this.#greeting = chunk;
        if (isSshVersionLine(chunk)) this.#stage = 'kex';
        done();
      };
      // A ProxyCommand that ends before the banner is not a MaxStartups drop: say how it ended.
      const lost = (e?: unknown) => {
        if (proxy) void proxy.failure().then(done);
        else done(e ?? serverClosed());
      };
      const onClose = () => lost();
      const onClosing = () => done(this.#closedError);
      const timer = setTimeout(() => done(timedOut()), timeoutMs);
      timer.unref();
      sock.on('data', onData).on('error', lost).on('close', onClose);
      if (this.#closing.signal.aborted) onClosing();
      else this.#closing.signal.addEventListener('abort', onClosing, { once: true });
    });
  }

  /**
   * One attempt's SSH handshake and authentication on a stream whose server has sent its banner. A
   * probe ends with the key exchange: the host key is recorded, not verified, and nothing is offered.
   */
  async #handshake(
    ssh2: Ssh2,
    sock: Duplex,
    ids: LoadedIdentities,
    knownHosts: KnownHosts,
    timeoutMs: number,
    probe: boolean,
  ): Promise<void> {
    const target = this.target;
    const client = new ssh2.Client();
    this.#client = client;
    this.#transport = sock;
    // ssh2 reports the transport's failures through the client; an error after it let go (a
    // ProxyCommand's stream reports its own destruction as one) must not become an uncaught exception.
    sock.on('error', () => {});
    // The first bytes may be a refusal ("Exceeded MaxStartups") rather than an SSH banner: ssh2 tells.
    const foreign = foreignGreeting(this.#greeting);
    let hostKeyError: ConnectionError | undefined;
    let verdict: HostKeyVerdict | undefined;
    const tried: string[] = [];

    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#closing.signal.removeEventListener('abort', onClosing);
        let ce: ConnectionError;
        if (this.#closedError) ce = this.#closedError;
        else if (hostKeyError) ce = unknownKeyOfCertifiedHost(target, hostKeyError);
        else {
          ce = classifyError(err, this.#ctx());
          if (ce.kind === 'auth') ce = authError(target, ids, tried, ce);
          // Something other than sshd answered (a web server on the port): say what, and do not retry.
          if (foreign !== undefined && ce.retryable) ce = notAnSshServer(this.#ctx(), foreign);
        }
        client.removeAllListeners('ready');
        client.on('error', () => {});
        client.destroy();
        sock.destroy();
        reject(ce);
      };
      // Our own timer (not ssh2's readyTimeout) so the message and the retry budget are ours.
      const timer = setTimeout(() => fail(timedOut()), timeoutMs);
      timer.unref();
      // close() during the handshake ends it at once.
      const onClosing = () => fail(this.#closedError);
      this.#closing.signal.addEventListener('abort', onClosing, { once: true });
      client.on('handshake', () => {
        this.#stage = 'auth';
        if (!probe || settled) return;
        // The key exchange is over and its signature checked: the host key is proven. Stop here.
        settled = true;
        clearTimeout(timer);
        this.#closing.signal.removeEventListener('abort', onClosing);
        resolve();
      });
      client.once('ready', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#closing.signal.removeEventListener('abort', onClosing);
        this.#stage = 'connected';
        client.on('error', (e) => this.#finish(classifyError(e, this.#ctx())));
        client.on('close', () => this.#finish(classifyError(serverClosed(), this.#ctx())));
        resolve();
      });
      client.on('error', (e) => fail(handshakeFailure(e, sock)));
      client.on('close', () => fail(serverClosed()));

      // Told to use ssh2 for a host set up for what only OpenSSH does: once per reason, not per host.
      if (target.transport === 'ssh2' && target.opensshNeeds.length && !probe)
        this.#opts.onWarning?.(
          `fleetsh: transport 'ssh2' is set for a host whose ssh_config asks for ${describeNeeds(target.opensshNeeds)}, which the ssh2 transport cannot use: it connects without them`,
        );
      if (target.hostKeyPolicy === 'off' && !probe) {
        this.#opts.onWarning?.(
          "fleetsh: hostKeyPolicy 'off': SSH host keys are not verified, so these connections can be intercepted",
        );
      }
      const methods = authMethods(ssh2, target, ids, () => verdict);
      client.connect({
        sock: sock as unknown as net.Socket,
        username: target.user,
        // ssh2's own readyTimeout would fire after 20 s; ours is the connect timeout.
        readyTimeout: 0,
        keepaliveInterval: 0,
        // ssh_config's lists where it sets them; host key types as #knownHosts() ordered them.
        algorithms: {
          ...target.algorithms,
          serverHostKey: knownHosts.algorithms as never,
          kex: (target.algorithms.kex ?? DEFAULT_ALGORITHMS.kex) as never,
          // Compression yes, as OpenSSH offers it; ssh2's default puts none first.
          ...(target.compression ? { compress: ['zlib@openssh.com', 'zlib', 'none'] as never } : {}),
        },
        // The agent forwarded to the host (ssh2 answers the host's agent channels from it).
        ...(target.forwardAgent !== undefined ? { agent: target.forwardAgent } : {}),
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          this.#hostKeySeen = true;
          this.#hostKey = key;
          if (probe) return verify(true);
          verifyHostKey(target, key, knownHosts.lookup).then(
            (v) => {
              verdict = v;
              if (v.status === 'accepted' && v.warning) this.#opts.onWarning?.(v.warning);
              verify(true);
            },
            (e) => {
              hostKeyError = e instanceof ConnectionError ? e : classifyError(e, this.#ctx('kex'));
              verify(false);
            },
          );
        },
        authHandler: (methodsLeft, _partial, next) => {
          if (probe) return undefined; // never answered: nothing is offered
          for (;;) {
            const m = methods.shift();
            if (!m) return next(false as never);
            const wireType = m.method.type === 'agent' ? 'publickey' : m.method.type;
            if (methodsLeft && !methodsLeft.includes(wireType as never)) continue;
            if (m.usable && !m.usable()) continue;
            tried.push(m.label);
            return next(m.method);
          }
        },
      } as ConnectConfig);
      tuneProtocol(
        client,
        ids.keys.map((k) => k.key),
      );
      startSftpSooner(client);
    });
  }

  // ---- channels ------------------------------------------------------------------------------

  async #openWithRetry<T extends ClientChannel | SFTPWrapper>(
    open: (client: Client, cb: (err: Error | undefined, ch: T) => void) => void,
    options: { signal?: AbortSignal; priority?: boolean },
    what: string,
    abandon: (channel: T) => void,
  ): Promise<{ channel: T; release: Release }> {
    let lonelyRefusals = 0;
    for (;;) {
      // No slot free: the kept SFTP session gives its own back (it closes, then the slot frees).
      if (this.#idleSftp && this.channels.active >= this.channels.limit) this.#closeIdleSftp();
      const release = await this.channels.acquire(options);
      if (this.#state !== 'ready') {
        release();
        throw this.#closedError ?? this.#notReady();
      }
      try {
        const channel = await this.#request(open, options.signal, what, abandon);
        this.#sessions++;
        channel.once('close', () => this.#sessions--);
        return { channel, release };
      } catch (e) {
        release();
        if (this.#closedError) throw this.#closedError;
        if (options.signal?.aborted && e === options.signal.reason) throw e;
        if (e instanceof AgentForwardingRefused) throw e;
        if (!isChannelRefused(e)) throw e instanceof ConnectionError ? e : channelError(this.label, e);
        this.#closeIdleSftp();
        for (const l of this.#refusalListeners) l();
        // Sessions the server has confirmed, not slots taken: opens still in flight are not sessions
        // on the server yet (counting them learned 3 for a MaxSessions of 2 under load).
        const others = this.#sessions;
        if (others >= 1) {
          // The server's MaxSessions is below our cap: learn it and wait for a channel to close.
          if (others < this.channels.limit) this.channels.limit = others;
          continue;
        }
        // Nothing else is open on our side: the server may still be tearing a session down.
        if (++lonelyRefusals > 20) throw channelsRefused(this.label, e);
        await sleep(10 * lonelyRefusals, options.signal);
      }
    }
  }

  /**
   * One request to the server that answers with a channel (a session, an exec, SFTP, a forwarded
   * stream). It settles when the server answers, when `signal` aborts (with its reason) or when the
   * connection closes (with why). An answer that comes after the caller gave up is `abandon`ed; if
   * none comes within LATE_ANSWER_MS, the connection is retired: a server that leaves a request
   * unanswered may leave the next one too.
   */
  #request<T extends ClientChannel | SFTPWrapper>(
    open: (client: Client, cb: (err: Error | undefined, ch: T) => void) => void,
    signal: AbortSignal | undefined,
    what: string,
    abandon: (channel: T) => void,
  ): Promise<T> {
    if (this.#state !== 'ready') return Promise.reject(this.#closedError ?? this.#notReady());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const stop = (err: unknown) => {
        if (settled) return;
        settled = true;
        off();
        reject(err);
      };
      let late: NodeJS.Timeout | undefined;
      const onAbort = () => {
        // A busy server answers a little late (tens of ms past a short timeout, measured): only one
        // that stays silent is taken for stuck.
        late = setTimeout(() => this.retire(`the server did not answer ${what}`), LATE_ANSWER_MS);
        late.unref();
        stop(signal!.reason);
      };
      const onClosing = () => stop(this.#closedError);
      const off = () => {
        signal?.removeEventListener('abort', onAbort);
        this.#closing.signal.removeEventListener('abort', onClosing);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#closing.signal.addEventListener('abort', onClosing, { once: true });
      try {
        open(this.#client!, (err, ch) => {
          if (settled) {
            clearTimeout(late);
            if (!err) abandon(ch);
            return;
          }
          settled = true;
          off();
          if (err) return reject(err);
          resolve(ch);
        });
      } catch (e) {
        stop(e);
      }
    });
  }

  // ---- lifetime ------------------------------------------------------------------------------

  /**
   * Starts the idle countdown. One timer at most, not re-made per command: when it fires early
   * (the connection was used since), it is set again for the rest of the time.
   */
  #armIdle(): void {
    this.#idleSince = performance.now();
    if (this.#state === 'ready' && this.#holds === 0 && this.#dependents === 0)
      this.#opts.onIdle?.(this, true);
    if (this.#idleTimer || this.#state !== 'ready') return;
    const check = (delay: number) => {
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined;
        if (this.#state !== 'ready' || this.#holds > 0 || this.#dependents > 0) return;
        const left = this.#idleSince + this.#opts.idleTimeoutMs - performance.now();
        if (left > 5) return check(left);
        this.#finish(
          new ConnectionError(
            'closed',
            this.label,
            `the connection was closed after ${formatMs(this.#opts.idleTimeoutMs)} unused`,
          ),
        );
      }, delay);
      this.#idleTimer.unref();
    };
    check(this.#opts.idleTimeoutMs);
  }

  #clearIdle(): void {
    // The timer checks #holds when it fires, and #armIdle restarts the count: only the pool is told.
    this.#opts.onIdle?.(this, false);
  }

  #stopIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  /** SSH protocol keepalive (keepalive@openssh.com with want-reply), on an unref'd timer. */
  #startKeepalive(): void {
    const interval = this.target.keepaliveIntervalMs;
    const client = this.#client as unknown as {
      _protocol?: { ping(): void };
      _callbacks?: Array<() => void>;
    };
    if (!(interval > 0) || typeof client._protocol?.ping !== 'function' || !Array.isArray(client._callbacks))
      return;
    let unanswered = 0;
    const max = Math.max(1, this.target.keepaliveCountMax);
    this.#keepaliveTimer = setInterval(() => {
      if (this.#state !== 'ready') return;
      if (unanswered >= max) {
        this.#finish(
          new ConnectionError(
            'closed',
            this.label,
            `no answer to ${max} SSH keepalives (every ${formatMs(interval)}); the connection was dropped`,
          ),
        );
        this.#transport?.destroy(); // the server does not answer: no goodbye to wait for
        return;
      }
      unanswered++;
      try {
        client._callbacks!.push(() => (unanswered = 0));
        client._protocol!.ping();
      } catch {
        // the connection is going away; 'close' will say so
      }
    }, interval);
    this.#keepaliveTimer.unref();
  }

  #finish(err: ConnectionError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closedError = err;
    this.#closing.abort(err);
    if (!this.#retiring.signal.aborted) this.#retiring.abort(err);
    this.#stopIdle();
    if (this.#keepaliveTimer) clearInterval(this.#keepaliveTimer);
    this.channels.rejectAll(err);
    const idle = this.#idleSftp;
    this.#idleSftp = undefined;
    idle?.drop();
    idle?.release(); // the session ends with the connection
    const client = this.#client;
    if (client) {
      client.on('error', () => {});
      try {
        client.end();
      } catch {
        // already down
      }
      // end() waits for the server's goodbye; a command in flight keeps the socket ref'd until the
      // channel has closed, so do not wait for ever (ssh2's destroy() does nothing after end()).
      const transport = this.#transport;
      setTimeout(() => transport?.destroy(), 1000).unref();
    }
    if (this.#viaHold) {
      this.#viaHold();
      this.#viaHold = undefined;
    }
    const via = this.#opts.via;
    if (via) {
      via.#dependents--;
      if (via.#holds === 0 && via.#dependents === 0 && !via.#closeIfRetiredAndUnused()) via.#armIdle();
    }
    for (const l of this.#closeListeners) l(err);
    this.#closeListeners.clear();
    this.#opts.onClose?.(this);
  }
}

interface PlannedMethod {
  method: AnyAuthMethod;
  label: string;
  usable?: () => boolean;
}

/** The order OpenSSH uses: the agent, the identities, then password and keyboard-interactive. */
function authMethods(
  ssh2: Ssh2,
  target: ResolvedTarget,
  ids: LoadedIdentities,
  verdict: () => HostKeyVerdict | undefined,
): PlannedMethod[] {
  const username = target.user;
  const out: PlannedMethod[] = [];
  if (target.agent) {
    let agent: string | InstanceType<Ssh2['OpenSSHAgent']> = target.agent;
    if (target.identitiesOnly) {
      const allowed = [
        ...ids.keys.map((k) => k.publicKey),
        ...ids.skipped.flatMap((s) => (s.publicKey ? [s.publicKey] : [])),
      ];
      agent = new (filteredAgentClass(ssh2))(target.agent, allowed);
    }
    out.push({
      method: { type: 'agent', username, agent } as AnyAuthMethod,
      label: `ssh-agent (${target.agent})`,
    });
  }
  for (const k of ids.keys) {
    out.push({
      method: { type: 'publickey', username, key: k.key as ParsedKey } as AnyAuthMethod,
      label: k.label,
    });
  }
  const password = target.password;
  if (password !== undefined) {
    // As OpenSSH: no password to a host whose key could not be trusted.
    const safe = () => !(verdict()?.status === 'accepted' && (verdict() as { unsafe: boolean }).unsafe);
    out.push({
      method: { type: 'password', username, password } as AnyAuthMethod,
      label: 'password',
      usable: safe,
    });
    out.push({
      method: {
        type: 'keyboard-interactive',
        username,
        prompt: (
          _name: string,
          _instructions: string,
          _lang: string,
          prompts: Array<{ prompt: string; echo?: boolean }>,
          finish: (answers: string[]) => void,
        ) => finish(prompts.map((p) => (!p.echo || /password|passcode/i.test(p.prompt) ? password : ''))),
      } as AnyAuthMethod,
      label: 'keyboard-interactive (password)',
      usable: safe,
    });
  }
  return out;
}

let FilteredAgent: ReturnType<typeof defineFilteredAgent> | undefined;

/** An agent that offers only the listed public keys (IdentitiesOnly); defined once ssh2 is loaded. */
function filteredAgentClass(ssh2: Ssh2): ReturnType<typeof defineFilteredAgent> {
  return (FilteredAgent ??= defineFilteredAgent(ssh2));
}

function defineFilteredAgent(ssh2: Ssh2) {
  return class FilteredAgent extends ssh2.OpenSSHAgent {
    readonly #allowed: Buffer[];
    constructor(socketPath: string, allowed: Buffer[]) {
      super(socketPath);
      this.#allowed = allowed;
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    override getIdentities(cb: (err: any, keys?: any[]) => void): void {
      super.getIdentities((err, keys) => {
        if (err || !keys) return cb(err, keys);
        cb(
          undefined,
          keys.filter((k) => this.#allowed.some((a) => a.equals((k as ParsedKey).getPublicSSH()))),
        );
      });
    }
  };
}

/** The type named at the start of a public key blob (`ssh-ed25519`, `sk-ssh-ed25519@openssh.com`). */
function keyTypeOf(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  return length <= 64 && blob.length >= 4 + length
    ? blob.subarray(4, 4 + length).toString('latin1')
    : undefined;
}

/** Whether ssh2 has agent forwarding on for this connection (it turns it off when the server refuses). */
function agentForwardingOn(client: Client): boolean {
  return (client as unknown as { _agentFwdEnabled?: boolean })._agentFwdEnabled === true;
}

function authError(
  target: ResolvedTarget,
  ids: LoadedIdentities,
  tried: string[],
  cause: ConnectionError,
): ConnectionError {
  const parts = [`${target.user}@${target.hostname} refused every identity`];
  parts.push(
    tried.length ? `tried: ${tried.join(', ')}` : 'nothing was offered (no agent, usable key or password)',
  );
  if (ids.skipped.length)
    parts.push(`skipped: ${ids.skipped.map((s) => `${s.label} (${s.reason})`).join(', ')}`);
  const keys = tried.some((t) => !t.startsWith('password') && !t.startsWith('keyboard-interactive'));
  // A host set up for certificates or security keys refuses what ssh2 can offer: say why.
  if (target.opensshNeeds.length) parts.push(needsClause(target.opensshNeeds));
  return new ConnectionError('auth', target.label, parts.join('; '), {
    hint: target.opensshNeeds.length
      ? OPENSSH_TRANSPORT_HINT
      : keys
        ? `Check the user name, and that the public key is in ~${target.user}/.ssh/authorized_keys on the host.`
        : 'Check the user name and the password.',
    cause: cause.cause,
  });
}
