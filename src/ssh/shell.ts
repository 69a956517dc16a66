// `$.ssh(target)`: a shell (callable tagged template) whose commands run on an SSH target through
// the pool, plus file transfer, tunnels and sudo on the same pooled connection.
import { createHash } from 'node:crypto';
import { makeShell, type Shell } from '../command/shell.js';
import type { CommandOptions } from '../process/command-promise.js';
import { ConnectionError, UsageError } from '../process/errors.js';
import { SshPool, type SshPoolOptions } from './pool.js';
import { resolveTarget, type ResolveContext } from './resolve.js';
import { parseTargetString } from './target-options.js';
import { SshExecutor } from './ssh-executor.js';
import { makeTransfers, type SshTransfers } from './sftp.js';
import { openTunnel, type Tunnel, type TunnelOptions } from './tunnel.js';
import { makeSudo, type SudoTemplate } from './sudo.js';
import { inspectTarget } from './inspect.js';
import type { HostKeyInfo, ResolvedTarget, SshTarget, SshTargetOptions, TargetPlan } from './types.js';

export interface SshShellExtras extends SshTransfers {
  /** The target after ssh_config resolution (user, host name, port, identities, jump chain). */
  resolve(): Promise<ResolvedTarget>;
  /** Connects now (the handshake is otherwise made by the first command); resolves when ready. */
  connect(): Promise<void>;
  /** Connects if need be; the host key the server proved it holds (verified against known_hosts). */
  hostKey(): Promise<HostKeyInfo>;
  /**
   * For a dry run: what a connection would use (user, address, port, jump chain, agent and key
   * files in order) and the server's host key against known_hosts, learned without logging in to
   * the host (jump hosts are logged in to, to reach it). Records nothing, runs nothing.
   */
  inspect(options?: { signal?: AbortSignal }): Promise<TargetPlan>;
  /** A local port forward through this host: 127.0.0.1:localPort → remoteHost:remotePort. */
  tunnel(options: TunnelOptions): Promise<Tunnel>;
  /**
   * ``sudo`cmd` `` runs the command through sudo as root; `sudo({ user, password })` is a shell whose
   * commands run through sudo so. The password (this, else the target's sudoPassword, else its
   * password) goes over the channel when sudo asks, never on a command line.
   */
  sudo: SudoTemplate;
  /** Closes this target's pooled connection (other shells for the same target reconnect on next use). */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type SshShell = Shell & SshShellExtras;

export interface SshFunction {
  (target: SshTarget, options?: CommandOptions): SshShell;
  /** The pool every `$.ssh` shell uses. */
  readonly pool: SshPool;
  /** Pool settings: maxHandshakes, idleTimeoutMs, maxSessions, onWarning. */
  configure(options: SshPoolOptions): void;
  /** Closes every pooled connection. */
  close(): Promise<void>;
}

/** How long a resolution (ssh_config read) is reused for the same target options. */
const RESOLVE_TTL_MS = 5_000;

export function createSsh(pool = new SshPool(), context: ResolveContext = {}): SshFunction {
  const cache = new Map<string, { at: number; promise: Promise<ResolvedTarget> }>();
  const resolveCached = (target: SshTarget): Promise<ResolvedTarget> => {
    const key = cacheKey(target);
    const hit = cache.get(key);
    const now = performance.now();
    if (hit && now - hit.at < RESOLVE_TTL_MS) return hit.promise;
    if (cache.size > 10_000) cache.clear();
    const promise = resolveTarget(target, context);
    cache.set(key, { at: now, promise });
    promise.catch(() => cache.delete(key));
    return promise;
  };

  const ssh = (target: SshTarget, options: CommandOptions = {}): SshShell => {
    // A bad target does not throw here: its commands reject (with the UsageError from resolution),
    // so one typo in a list of hosts does not break a Promise.allSettled over all of them.
    let label: string;
    try {
      label = labelOf(target);
    } catch {
      label =
        typeof target === 'string' ? target : String((target as { host?: unknown } | null)?.host ?? target);
    }
    let resolved: Promise<ResolvedTarget> | undefined;
    const resolve = () => (resolved ??= resolveCached(target));
    // A failed resolution is not kept: the next command reads ssh_config again.
    const resolveOnce = () =>
      resolve().catch((e) => {
        resolved = undefined;
        throw e;
      });
    const executor = new SshExecutor(label, { pool, resolve: resolveOnce });
    return makeShell(executor, options, (shell) => {
      const close = async () => {
        const t = await resolveOnce().catch(() => undefined);
        if (t) pool.connection(t).close();
      };
      const extras: SshShellExtras = {
        ...makeTransfers(executor),
        resolve: resolveOnce,
        connect: async () => {
          await executor.connection();
        },
        hostKey: async () => {
          const key = (await executor.connection()).hostKey;
          if (!key)
            throw new ConnectionError('protocol', label, 'connected, but no host key was recorded', {
              stage: 'kex',
            });
          return key;
        },
        inspect: async (o: { signal?: AbortSignal } = {}) =>
          inspectTarget(await resolveOnce(), pool, o.signal),
        tunnel: (o: TunnelOptions) => openTunnel(executor, o),
        sudo: makeSudo(shell),
        close,
        [Symbol.asyncDispose]: close,
      };
      return extras;
    }) as SshShell;
  };

  return Object.assign(ssh, {
    pool,
    configure: (o: SshPoolOptions) => pool.configure(o),
    close: async () => pool.close(),
  });
}

/** The host as the user named it, with `:port` for a port other than 22 (as resolution labels it). */
export function labelOf(target: SshTarget): string {
  let raw: SshTargetOptions;
  if (typeof target === 'string') raw = { host: target };
  else if (target !== null && typeof target === 'object' && typeof target.host === 'string') raw = target;
  else {
    throw new UsageError(
      `$.ssh(): expected a target like "user@host:port" or { host, username }, got ${target === null ? 'null' : typeof target}`,
    );
  }
  const parsed = parseTargetString(raw.host);
  const port = raw.port ?? parsed.port;
  const host = parsed.host;
  return port !== undefined && Number(port) !== 22
    ? `${host.includes(':') ? `[${host}]` : host}:${port}`
    : host;
}

function cacheKey(target: SshTarget): string {
  const json = JSON.stringify(target, (_k, v: unknown) =>
    v &&
    typeof v === 'object' &&
    (v as { type?: string }).type === 'Buffer' &&
    Array.isArray((v as { data?: unknown }).data)
      ? 'buffer:' +
        createHash('sha256')
          .update(Buffer.from((v as { data: number[] }).data))
          .digest('hex')
      : v,
  );
  return createHash('sha256')
    .update(json ?? '')
    .digest('hex');
}
