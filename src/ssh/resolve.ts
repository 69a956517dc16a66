// Turning what the user said about a target into concrete connection settings, as OpenSSH does:
// explicit options first (like ssh's command line), then ssh_config (first obtained value wins),
// then defaults. Jump hosts are resolved through ssh_config too, each hop as `ssh -J` would.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import { isIP } from 'node:net';
import path from 'node:path';
import { ConnectionError, UsageError } from '../process/errors.js';
import {
  checkHostName,
  computeSshConfig,
  configCount,
  configError,
  configPolicy,
  configPort,
  configSeconds,
  configYesNo,
  expandEnv,
  expandTilde,
  expandTokens,
  ExpansionError,
  matchPattern,
  type ComputedSshConfig,
  type ConfigEntry,
  type ConfigSource,
  type Fail,
} from './ssh-config.js';
import { knownHostsNameFor } from './known-hosts.js';
import { ALGORITHM_KEYWORDS, assembleAlgorithms } from './algorithms.js';
import { unhonouredSettings } from './config-keywords.js';
import { isEnvName } from '../process/env.js';
import { opensshNeeds } from './openssh-needs.js';
import { parseTargetString, validateTargetOptions, type ExplicitSettings } from './target-options.js';
import type {
  AlgorithmList,
  IdentitySource,
  ResolvedTarget,
  SshTarget,
  SshTargetOptions,
  UnhonouredSetting,
} from './types.js';

/** Where resolution looks; every field defaults to this machine. Tests point it at temporary folders. */
export interface ResolveContext {
  /** Default os.homedir(). Used for ~, %d, ~/.ssh/config and the default key and known_hosts files. */
  homedir?: string;
  /** Default os.userInfo().username: the remote user when none is given, and %u. */
  localUser?: string;
  /** Default process.env: SSH_AUTH_SOCK and ${VAR} in paths. */
  env?: NodeJS.ProcessEnv;
  /** Default process.cwd(): relative key and known_hosts paths. */
  cwd?: string;
  /**
   * True when `env` holds only some of the caller's variables (the fleetsh agent gets SSH_AUTH_SOCK,
   * HOME, LANG, LC_* and a few more): SendEnv patterns that may name others are warned about.
   */
  partialEnv?: boolean;
  /** Default '/etc/ssh/ssh_config', read after the user's file; false skips it. */
  systemConfigFile?: string | false;
  /** Default /etc/ssh/ssh_known_hosts and /etc/ssh/ssh_known_hosts2 (GlobalKnownHostsFile overrides). */
  globalKnownHostsFiles?: string[];
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 15_000;
export const DEFAULT_KEEPALIVE_COUNT_MAX = 3;
/** OpenSSH 9.2's default identity files, in its order, less the types ssh2 cannot use (sk, xmss, dsa). */
export const DEFAULT_IDENTITY_FILES = ['id_rsa', 'id_ecdsa', 'id_ed25519'];
const MAX_JUMP_HOPS = 8;
/** The SendEnv patterns whose variables an agent client sends with its context (agent/client.ts). */
const PARTIAL_ENV_PATTERNS = ['LANG', 'LC_*'];
/** Options a jump host inherits from the target that goes through it, unless the hop sets its own. */
const INHERITED_BY_HOPS = [
  'sshConfig',
  'knownHosts',
  'hostKeyPolicy',
  'agent',
  'connectTimeout',
  'keepaliveInterval',
] as const;

/**
 * Resolve a target (`'user@host:port'` or options) into every concrete setting needed to connect.
 * Throws UsageError for bad options and ConnectionError 'config' for a bad or unreadable ssh_config.
 */
export async function resolveTarget(
  target: SshTarget,
  context: ResolveContext = {},
): Promise<ResolvedTarget> {
  return resolveInternal(target, fillContext(context), []);
}

interface FullContext {
  homedir: string;
  localUser: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  systemConfigFile: string | false;
  globalKnownHostsFiles: string[];
  partialEnv: boolean;
  localHostname: string;
  uid: string;
}

function fillContext(c: ResolveContext): FullContext {
  return {
    homedir: c.homedir ?? os.homedir(),
    localUser: c.localUser ?? currentUser(),
    env: c.env ?? process.env,
    cwd: c.cwd ?? process.cwd(),
    systemConfigFile: c.systemConfigFile ?? '/etc/ssh/ssh_config',
    globalKnownHostsFiles: c.globalKnownHostsFiles ?? [
      '/etc/ssh/ssh_known_hosts',
      '/etc/ssh/ssh_known_hosts2',
    ],
    partialEnv: c.partialEnv ?? false,
    localHostname: os.hostname(),
    uid: String(process.getuid?.() ?? ''),
  };
}

let userOfUid: { uid: number | undefined; name: string } | undefined;

/** This process's user name, looked up once per uid: each lookup reads /etc/passwd (per target, before). */
function currentUser(): string {
  const uid = process.getuid?.();
  if (userOfUid && userOfUid.uid === uid) return userOfUid.name;
  let name: string;
  try {
    name = os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root';
  }
  userOfUid = { uid, name };
  return name;
}

/** `chain` holds the hosts being resolved on the way here, to report ProxyJump loops. */
async function resolveInternal(
  target: SshTarget,
  ctx: FullContext,
  chain: string[],
): Promise<ResolvedTarget> {
  const x = validateTargetOptions(target, ctx.homedir, ctx.cwd);
  const loopKey = x.host.toLowerCase();
  if (chain.includes(loopKey) || chain.length > MAX_JUMP_HOPS) {
    throw new ConnectionError(
      'config',
      chain[0] ?? x.label,
      `ProxyJump loop: ${[...chain, loopKey].join(' -> ')}`,
      {
        hint: 'Each hop is resolved through ssh_config too; exclude the jump hosts from the Host block that sets ProxyJump (e.g. "Host * !bastion").',
      },
    );
  }
  const config = await computeSshConfig({
    label: x.label,
    host: x.host,
    user: x.user,
    localUser: ctx.localUser,
    homedir: ctx.homedir,
    sources: configSources(x, ctx),
  });
  const get = (key: string): ConfigEntry | undefined => config.values.get(key);
  const fail = (entry: ConfigEntry, keyword: string, detail: string): ConnectionError =>
    configError(x.label, `${entry.file}:${entry.line}`, `${keyword}: ${detail}`);

  const hostNameEntry = get('hostname');
  const hostname = (
    hostNameEntry
      ? expanding(hostNameEntry, 'HostName', fail, () =>
          expandTokens(hostNameEntry.args[0] ?? '', { h: x.host }),
        )
      : x.host
  ).toLowerCase();
  if (hostNameEntry) checkHostName(hostname, hostNameEntry, fail);
  const user = x.user ?? firstArg(get('user')) ?? ctx.localUser;
  const port = x.port ?? configPort(get('port'), fail) ?? 22;
  const hostKeyAlias = x.hostKeyAlias ?? firstArg(get('hostkeyalias'));

  const jumpSpecs = x.jump ?? configJump(config, x.label, fail);
  const jumpString = jumpSpecs ? jumpSpecs.map((h) => (typeof h === 'string' ? h : h.host)).join(',') : '';
  const tokens = pathTokens(ctx, { host: x.host, hostname, port, user, hostKeyAlias, jumpString });
  const expandPath = (entry: ConfigEntry, keyword: string, value: string): string =>
    path.resolve(
      ctx.cwd,
      expanding(entry, keyword, fail, () =>
        expandTokens(expandEnv(expandTilde(value, ctx.homedir, ctx.localUser), ctx.env), tokens),
      ),
    );

  const identities = await identitySources(x, config, ctx, expandPath);
  const userKnownHostsFiles = x.knownHosts ??
    listOption(get('userknownhostsfile'), 'UserKnownHostsFile', expandPath) ?? [
      path.join(ctx.homedir, '.ssh', 'known_hosts'),
      path.join(ctx.homedir, '.ssh', 'known_hosts2'),
    ];
  const globalKnownHostsFiles =
    listOption(get('globalknownhostsfile'), 'GlobalKnownHostsFile', expandPath) ?? ctx.globalKnownHostsFiles;

  const proxy = x.jump === undefined ? config.proxy : undefined;
  const proxyCommand =
    proxy?.keyword === 'proxycommand' && proxy.raw.toLowerCase() !== 'none'
      ? expanding(proxy, 'ProxyCommand', fail, () => expandTokens(proxy.raw, tokens))
      : undefined;
  const inherited: Partial<SshTargetOptions> = {};
  for (const key of INHERITED_BY_HOPS)
    if (x.raw[key] !== undefined) Object.assign(inherited, { [key]: x.raw[key] });
  const jump = await resolveChain(jumpSpecs ?? [], inherited, ctx, [...chain, loopKey]);
  const unhonoured = unhonouredSettings(config, kerberosCredentials(ctx));
  const agent = agentSocket(x, get('identityagent'), ctx, expandPath);

  const resolved: ResolvedTarget = {
    label: x.label,
    host: x.host,
    hostname,
    port,
    user,
    identities,
    identitiesOnly: x.identitiesOnly ?? configYesNo(get('identitiesonly'), 'IdentitiesOnly', fail) ?? false,
    agent,
    jump,
    proxyCommand,
    knownHostsFiles: [...userKnownHostsFiles, ...globalKnownHostsFiles],
    userKnownHostsFiles,
    knownHostsName: hostKeyAlias ?? knownHostsNameFor(hostname, port),
    hostKeyPolicy: x.hostKeyPolicy ?? configPolicy(get('stricthostkeychecking'), fail) ?? 'strict',
    hostKeyAlias,
    hashKnownHosts: configYesNo(get('hashknownhosts'), 'HashKnownHosts', fail) ?? false,
    connectTimeoutMs:
      x.connectTimeoutMs ??
      configSeconds(get('connecttimeout'), 'ConnectTimeout', fail) ??
      DEFAULT_CONNECT_TIMEOUT_MS,
    keepaliveIntervalMs:
      x.keepaliveIntervalMs ??
      configSeconds(get('serveraliveinterval'), 'ServerAliveInterval', fail) ??
      DEFAULT_KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax:
      configCount(get('serveralivecountmax'), 'ServerAliveCountMax', fail) ?? DEFAULT_KEEPALIVE_COUNT_MAX,
    maxSessions: x.maxSessions,
    persistentShell: x.persistentShell,
    algorithms: configAlgorithms(get, fail, unhonoured),
    hostKeyAlgorithmsAsGiven: !/^[+-]/.test(get('hostkeyalgorithms')?.args.join('') ?? '+'),
    forwardAgent: forwardedAgent(x, get('forwardagent'), agent, ctx, expandPath),
    bindAddress: configBindAddress(get('bindaddress'), fail),
    connectionAttempts: configCount(get('connectionattempts'), 'ConnectionAttempts', fail) || 1,
    env: {},
    requestTty: configRequestTty(get('requesttty'), fail),
    compression: configYesNo(get('compression'), 'Compression', fail) ?? false,
    unhonoured,
    transport: x.transport,
    poolKey: '',
    configFiles: config.files,
    opensshNeeds: [],
  };
  resolved.opensshNeeds = await opensshNeeds(config, identities, expandPath, {
    files: resolved.knownHostsFiles,
    name: resolved.knownHostsName,
    policy: resolved.hostKeyPolicy,
    // The system file and what it includes from its folder (/etc/ssh/ssh_config.d/*.conf).
    systemConfig: (file) =>
      ctx.systemConfigFile !== false &&
      (file === ctx.systemConfigFile || file.startsWith(path.dirname(ctx.systemConfigFile) + path.sep)),
  });
  // A chain goes through one transport: what its last hop needs (and the hops before it), it needs.
  const hop = jump.at(-1);
  if (hop)
    resolved.opensshNeeds.unshift(
      ...hop.opensshNeeds.map((n) =>
        n.feature.includes(' for jump host ')
          ? n
          : { ...n, feature: `${n.feature} for jump host ${hop.label}` },
      ),
    );
  hideSecrets(resolved, x);
  Object.defineProperty(resolved, 'env', {
    value: sessionEnv(config.sendEnv, get('setenv'), ctx, fail, unhonoured),
    enumerable: false,
  });
  resolved.poolKey = poolKeyOf(resolved);
  return resolved;
}

function configSources(x: ExplicitSettings, ctx: FullContext): ConfigSource[] {
  if (x.sshConfig === false) return [];
  if (typeof x.sshConfig === 'string') return [{ path: x.sshConfig, kind: 'user', required: true }];
  const sources: ConfigSource[] = [
    { path: path.join(ctx.homedir, '.ssh', 'config'), kind: 'user', required: false },
  ];
  if (ctx.systemConfigFile) sources.push({ path: ctx.systemConfigFile, kind: 'system', required: false });
  return sources;
}

/** A target's hops: the last hop is reached through the others (`ssh -J a,b c` runs `ssh -J a b`). */
async function resolveChain(
  specs: Array<string | SshTargetOptions>,
  inherited: Partial<SshTargetOptions>,
  ctx: FullContext,
  chain: string[],
): Promise<ResolvedTarget[]> {
  const last = specs.at(-1);
  if (last === undefined) return [];
  const prefix = specs.slice(0, -1);
  const hop: SshTargetOptions = typeof last === 'string' ? { host: last } : { ...last };
  for (const [key, value] of Object.entries(inherited)) {
    if ((hop as unknown as Record<string, unknown>)[key] === undefined) Object.assign(hop, { [key]: value });
  }
  if (prefix.length > 0) {
    if (hop.jump !== undefined || hop.via !== undefined) {
      throw new UsageError(
        `jump host ${hop.host}: only the first hop of a jump chain may have its own jump option`,
        {
          host: chain[0],
        },
      );
    }
    hop.jump = prefix;
  }
  const resolved = await resolveInternal(hop, ctx, chain);
  return [...resolved.jump, resolved];
}

function configJump(
  config: ComputedSshConfig,
  label: string,
  fail: (e: ConfigEntry, k: string, d: string) => ConnectionError,
): string[] | undefined {
  const proxy = config.proxy;
  if (proxy?.keyword !== 'proxyjump') return undefined;
  const value = proxy.args.join(' ');
  if (value.toLowerCase() === 'none') return [];
  const hops = value.split(',');
  for (const hop of hops) {
    try {
      parseTargetString(hop, label);
    } catch (e) {
      throw fail(proxy, 'ProxyJump', (e as Error).message);
    }
  }
  return hops;
}

async function identitySources(
  x: ExplicitSettings,
  config: ComputedSshConfig,
  ctx: FullContext,
  expandPath: (entry: ConfigEntry, keyword: string, value: string) => string,
): Promise<IdentitySource[]> {
  const sources: IdentitySource[] = [];
  if (x.privateKey && 'path' in x.privateKey) {
    sources.push({
      path: x.privateKey.path,
      origin: 'option',
      label: `${x.privateKey.path} (privateKey option)`,
    });
  } else if (x.privateKey) {
    const source: IdentitySource = {
      path: undefined,
      origin: 'option',
      label: 'the inline privateKey option',
    };
    Object.defineProperty(source, 'key', { value: x.privateKey.key, enumerable: false });
    sources.push(source);
  }
  for (const entry of config.identityFiles) {
    const file = expandPath(entry, 'IdentityFile', entry.args[0]!);
    if (sources.some((s) => s.path === file)) continue;
    sources.push({ path: file, origin: 'config', label: `${file} (IdentityFile in ${entry.file})` });
  }
  if (sources.length > 0) return sources;
  for (const name of DEFAULT_IDENTITY_FILES) {
    const file = path.join(ctx.homedir, '.ssh', name);
    const st = await fsp.stat(file).catch(() => undefined);
    if (st?.isFile()) sources.push({ path: file, origin: 'default', label: `${file} (default identity)` });
  }
  return sources;
}

function agentSocket(
  x: ExplicitSettings,
  entry: ConfigEntry | undefined,
  ctx: FullContext,
  expandPath: (entry: ConfigEntry, keyword: string, value: string) => string,
): string | undefined {
  if (x.agent === false) return undefined;
  if (typeof x.agent === 'string') return x.agent;
  const value = entry?.args[0];
  if (entry && value !== undefined) {
    if (value.toLowerCase() === 'none') return undefined;
    if (value === 'SSH_AUTH_SOCK') return ctx.env.SSH_AUTH_SOCK || undefined;
    if (value.startsWith('$')) return ctx.env[value.slice(1)] || undefined;
    return expandPath(entry, 'IdentityAgent', value);
  }
  return ctx.env.SSH_AUTH_SOCK || undefined;
}

/** The tokens OpenSSH expands in IdentityFile, UserKnownHostsFile, IdentityAgent and ProxyCommand. */
function pathTokens(
  ctx: FullContext,
  t: {
    host: string;
    hostname: string;
    port: number;
    user: string;
    hostKeyAlias: string | undefined;
    jumpString: string;
  },
): Record<string, string> {
  const port = String(t.port);
  return {
    C: createHash('sha1')
      .update(`${ctx.localHostname}${t.hostname}${port}${t.user}${t.jumpString}`)
      .digest('hex'),
    d: ctx.homedir,
    h: t.hostname,
    i: ctx.uid,
    j: t.jumpString,
    k: t.hostKeyAlias ?? t.host,
    L: ctx.localHostname.split('.')[0] ?? ctx.localHostname,
    l: ctx.localHostname,
    n: t.host,
    p: port,
    r: t.user,
    u: ctx.localUser,
  };
}

/** Runs an expansion, turning a bad token or variable into a 'config' error naming the file. */
function expanding(entry: ConfigEntry, keyword: string, fail: Fail, expand: () => string): string {
  try {
    return expand();
  } catch (e) {
    if (e instanceof ExpansionError) throw fail(entry, keyword, e.message);
    throw e;
  }
}

function listOption(
  entry: ConfigEntry | undefined,
  keyword: string,
  expandPath: (entry: ConfigEntry, keyword: string, value: string) => string,
): string[] | undefined {
  if (!entry || entry.args.length === 0) return undefined;
  if (entry.args.length === 1 && entry.args[0]!.toLowerCase() === 'none') return [];
  return entry.args.map((arg) => expandPath(entry, keyword, arg));
}

/**
 * Whether this machine holds Kerberos credentials GSSAPI could use: KRB5CCNAME is set, or the
 * default file cache /tmp/krb5cc_UID exists (a stat per resolution: a `kinit` since is seen).
 */
function kerberosCredentials(ctx: FullContext): boolean {
  return Boolean(ctx.env.KRB5CCNAME) || existsSync(`/tmp/krb5cc_${ctx.uid}`);
}

/** Ciphers, KexAlgorithms, HostKeyAlgorithms, MACs: names ssh2 lacks are noted and left out. */
function configAlgorithms(
  get: (key: string) => ConfigEntry | undefined,
  fail: Fail,
  unhonoured: UnhonouredSetting[],
): Partial<Record<AlgorithmList, string[]>> {
  const out: Partial<Record<AlgorithmList, string[]>> = {};
  for (const [list, keyword] of Object.entries(ALGORITHM_KEYWORDS) as Array<[AlgorithmList, string]>) {
    const entry = get(keyword.toLowerCase());
    if (!entry) continue;
    const { names, unsupported } = assembleAlgorithms(list, entry.args.join(''));
    if (unsupported.length > 0)
      unhonoured.push({
        keyword,
        file: entry.file,
        line: entry.line,
        value: unsupported.join(','),
        instead: `it leaves ${unsupported.length === 1 ? 'it' : 'them'} out (ssh2 does not support ${unsupported.length === 1 ? 'it' : 'them'})`,
        openssh: true,
      });
    if (names.length === 0)
      throw fail(
        entry,
        keyword,
        `"${entry.args.join(' ')}" leaves no algorithm the ssh2 transport supports` +
          (unsupported.length ? ` (it does not support ${unsupported.join(', ')})` : ''),
      );
    out[list] = names;
  }
  return out;
}

/** ForwardAgent: yes forwards the agent used to log in; a path or $VAR names a socket. The option wins. */
function forwardedAgent(
  x: ExplicitSettings,
  entry: ConfigEntry | undefined,
  agent: string | undefined,
  ctx: FullContext,
  expandPath: (entry: ConfigEntry, keyword: string, value: string) => string,
): string | undefined {
  if (typeof x.forwardAgent === 'string') return x.forwardAgent;
  if (x.forwardAgent !== undefined) return x.forwardAgent ? agent : undefined;
  const value = entry?.args.join(' ');
  if (!entry || value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (lower === 'no' || lower === 'false') return undefined;
  if (lower === 'yes' || lower === 'true') return agent;
  // `$VAR` names the variable holding the socket; `${VAR}` inside a path is expanded with the path.
  if (value.startsWith('$') && !value.startsWith('${')) return ctx.env[value.slice(1)] || undefined;
  return expandPath(entry, 'ForwardAgent', value);
}

/** RequestTTY: yes and force ask for a terminal, no for none; auto (fleetsh always runs a command) for none. */
function configRequestTty(entry: ConfigEntry | undefined, fail: Fail): boolean | undefined {
  if (!entry) return undefined;
  const value = entry.args.join(' ').toLowerCase();
  if (value === 'yes' || value === 'force' || value === 'true') return true;
  if (value === 'no' || value === 'false') return false;
  if (value === 'auto') return undefined;
  throw fail(entry, 'RequestTTY', `expected yes, no, force or auto, got "${value}"`);
}

/**
 * The environment sent before each command: SendEnv's patterns (they add up; `-PATTERN` takes
 * earlier ones back) against this machine's environment, then SetEnv's NAME=VALUE (sent after, so
 * they win on the host). The server takes only what its AcceptEnv allows, and a refusal is silent.
 */
function sessionEnv(
  sendEnv: ConfigEntry[],
  setEnv: ConfigEntry | undefined,
  ctx: FullContext,
  fail: Fail,
  unhonoured: UnhonouredSetting[],
): Record<string, string> {
  const env = ctx.env;
  let patterns: Array<{ pattern: string; entry: ConfigEntry }> = [];
  for (const entry of sendEnv) {
    for (const arg of entry.args) {
      if (arg.startsWith('-')) patterns = patterns.filter((p) => !matchPattern(p.pattern, arg.slice(1)));
      else patterns.push({ pattern: arg, entry });
    }
  }
  // Through the agent, only the variables a client sends are there to match (agent/client.ts).
  const unseen = ctx.partialEnv
    ? patterns.filter((p) => !PARTIAL_ENV_PATTERNS.some((seen) => matchPattern(p.pattern, seen)))
    : [];
  if (unseen[0]) {
    unhonoured.push({
      keyword: 'SendEnv',
      file: unseen[0].entry.file,
      line: unseen[0].entry.line,
      value: unseen.map((p) => p.pattern).join(' '),
      instead:
        'through the fleetsh agent only LANG and LC_* are sent (--no-agent or FLEETSH_NO_AGENT=1 sends the rest)',
      openssh: false,
    });
  }
  const out: Record<string, string> = {};
  if (patterns.length > 0) {
    for (const [name, value] of Object.entries(env)) {
      if (
        value !== undefined &&
        isEnvName(name) &&
        !isOwnVariable(name) &&
        patterns.some((p) => matchPattern(name, p.pattern))
      )
        out[name] = value;
    }
  }
  const set = new Set<string>();
  for (const arg of setEnv?.args ?? []) {
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (eq === -1 || !isEnvName(name))
      throw fail(
        setEnv!,
        'SetEnv',
        `expected NAME=VALUE, got "${arg.length > 60 ? arg.slice(0, 57) + '...' : arg}"`,
      );
    // As OpenSSH: the first value of a name in the line wins.
    if (set.has(name)) continue;
    set.add(name);
    out[name] = arg.slice(eq + 1);
  }
  return out;
}

/**
 * BindAddress as an address of this machine. Node's socket takes only an IP address (a name would
 * throw a TypeError from inside the connect), so a name is refused here, naming the line.
 */
function configBindAddress(entry: ConfigEntry | undefined, fail: Fail): string | undefined {
  if (entry === undefined) return undefined;
  const value = entry.args[0] ?? '';
  if (entry.args.length !== 1 || isIP(value) === 0)
    throw fail(
      entry,
      'BindAddress',
      `expected one IP address of this machine, got "${entry.args.join(' ').slice(0, 60)}"`,
    );
  return value;
}

/**
 * The variables fleetsh sets for its own use (FLEETSH_JOB marks a command's processes for the kill
 * helper, FLEETSH_HOST names the host): SendEnv never sends this machine's values of them (a
 * fleetsh run from a fleetsh command has them), whatever its patterns say.
 */
export function isOwnVariable(name: string): boolean {
  return OWN_VARIABLES.includes(name);
}
/** ssh-executor.ts's JOB_VAR, fleet/run.ts's HOST_VAR, the agent's start-up pipe (agent/start.ts). */
const OWN_VARIABLES = ['FLEETSH_JOB', 'FLEETSH_HOST', 'FLEETSH_AGENT_READY_FD'];

function firstArg(entry: ConfigEntry | undefined): string | undefined {
  return entry?.args[0];
}

function hideSecrets(resolved: ResolvedTarget, x: ExplicitSettings): void {
  for (const key of ['password', 'passphrase', 'sudoPassword'] as const) {
    if (x[key] !== undefined) Object.defineProperty(resolved, key, { value: x[key], enumerable: false });
  }
}

/** Per-process key, so secret digests in pool keys cannot be checked against guesses elsewhere. */
const SECRET_KEY = randomBytes(32);

function digest(data: string | Buffer): string {
  return createHmac('sha256', SECRET_KEY).update(data).digest('hex').slice(0, 16);
}

function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Everything that makes two connections different, so equal keys can share one. Secrets only as digests. */
function poolKeyOf(t: ResolvedTarget): string {
  const ids = t.identities
    .map((i) => (i.path !== undefined ? i.path : `inline:${digest(i.key ?? '')}`))
    .join(',');
  const secrets = [t.password, t.passphrase].map((s) => (s === undefined ? '' : digest(s))).join(':');
  const parts = [
    `${t.user}@${bracketed(t.hostname)}:${t.port}`,
    `id=${ids}${t.identitiesOnly ? ';only' : ''}`,
    `agent=${t.agent ?? ''}`,
    `hk=${t.hostKeyPolicy};${t.knownHostsName};${t.knownHostsFiles.join(',')}`,
  ];
  if (secrets !== ':') parts.push(`s=${secrets}`);
  const algorithms = Object.entries(t.algorithms);
  if (algorithms.length > 0)
    parts.push(
      `alg=${algorithms.map(([k, v]) => `${k}:${v.join(',')}`).join(';')}${t.hostKeyAlgorithmsAsGiven ? ';as-given' : ''}`,
    );
  if (t.forwardAgent !== undefined) parts.push(`fwd=${t.forwardAgent}`);
  if (t.bindAddress !== undefined) parts.push(`bind=${t.bindAddress}`);
  if (t.compression) parts.push('zlib');
  const env = Object.entries(t.env);
  if (env.length > 0) parts.push(`env=${digest(JSON.stringify(env))}`);
  if (t.proxyCommand !== undefined) parts.push(`proxy=${t.proxyCommand}`);
  const via = t.jump.at(-1);
  if (via) parts.push(`via=(${via.poolKey})`);
  return parts.join(' ');
}
