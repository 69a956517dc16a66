// The boundary of SSH targets: target strings (`user@host:port`, `[::1]:2222`, `ssh://...`) and
// option objects, validated with messages that name the option and the host, before ssh_config is
// read (src/ssh/resolve.ts).
import path from 'node:path';
import { splitAddress } from '../process/address.js';
import { parseDuration } from '../process/duration.js';
import { UsageError } from '../process/errors.js';
import { expandTilde } from './ssh-config.js';
import {
  HOST_KEY_POLICIES,
  SSH_TRANSPORTS,
  type HostKeyPolicy,
  type SshTransport,
  type SshTarget,
  type SshTargetOptions,
} from './types.js';

export interface ParsedTargetString {
  user?: string;
  host: string;
  port?: number;
}

const BAD_HOST_CHARS = /[\s'"`$;&<>|(){}\\,*?!/]/;

/**
 * `host`, `user@host`, `user@host:port`, `[::1]:2222`, `::1`, `ssh://user@host:port`.
 * `forHost` names the target in the error when this is a jump host spec.
 */
export function parseTargetString(text: string, forHost?: string): ParsedTargetString {
  const invalid = (why: string): UsageError =>
    new UsageError(`${forHost ? `${forHost}: ` : ''}invalid SSH target "${text}": ${why}`, { host: forHost });
  const { user, host, port: portText, malformed } = splitAddress(text);
  if (malformed) throw invalid(malformed);
  if (user !== undefined && (user === '' || user.startsWith('-') || /[\s\x00-\x1f]/.test(user))) {
    throw invalid(`"${user}" is not a valid user name`);
  }
  if (host === '') throw invalid('the host is empty');
  if (host.startsWith('-') || BAD_HOST_CHARS.test(host) || /[\x00-\x1f]/.test(host)) {
    throw invalid(`"${host}" is not a valid host name`);
  }
  const result: ParsedTargetString = { host };
  if (user !== undefined) result.user = user;
  if (portText !== undefined) {
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw invalid(`port "${portText}" is not a number from 1 to 65535`);
    result.port = port;
  }
  return result;
}

/** Options after validation; undefined means "not given, ask ssh_config". */
export interface ExplicitSettings {
  raw: SshTargetOptions;
  label: string;
  host: string;
  user?: string;
  port?: number;
  privateKey?: { path: string } | { key: Buffer };
  passphrase?: string;
  password?: string;
  sudoPassword?: string;
  agent?: string | false;
  forwardAgent?: string | boolean;
  jump?: Array<string | SshTargetOptions>;
  knownHosts?: string[];
  hostKeyPolicy?: HostKeyPolicy;
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  sshConfig?: string | false;
  identitiesOnly?: boolean;
  hostKeyAlias?: string;
  maxSessions?: number;
  persistentShell?: boolean;
  transport?: SshTransport;
}

const OPTION_NAMES = [
  'host',
  'username',
  'user',
  'port',
  'privateKey',
  'passphrase',
  'password',
  'agent',
  'forwardAgent',
  'jump',
  'via',
  'knownHosts',
  'hostKeyPolicy',
  'connectTimeout',
  'keepaliveInterval',
  'sshConfig',
  'identitiesOnly',
  'hostKeyAlias',
  'maxSessions',
  'sudoPassword',
  'persistentShell',
  'transport',
];

export function validateTargetOptions(target: SshTarget, homedir: string, cwd: string): ExplicitSettings {
  let raw: SshTargetOptions;
  if (typeof target === 'string') raw = { host: target };
  else if (target !== null && typeof target === 'object' && !Array.isArray(target)) raw = target;
  else
    throw new UsageError(
      `an SSH target must be a string like "user@host:port" or an object with a host, got ${describe(target)}`,
    );
  if (typeof raw.host !== 'string' || raw.host.trim() === '') {
    throw new UsageError(`SSH target option host must be a non-empty string, got ${describe(raw.host)}`);
  }
  const parsed = parseTargetString(raw.host);
  let label = parsed.host;
  const bad = (option: string, why: string): UsageError =>
    new UsageError(`${label}: option ${option} ${why}`, { host: label });
  const local = (p: string, option: string): string => {
    try {
      return path.resolve(cwd, expandTilde(p, homedir));
    } catch (e) {
      throw bad(option, (e as Error).message);
    }
  };

  for (const key of Object.keys(raw)) {
    if (OPTION_NAMES.includes(key)) continue;
    const meant = OPTION_NAMES.find((name) => name.toLowerCase() === key.toLowerCase());
    if (meant) throw bad(key, `is not an option; did you mean ${meant}?`);
  }
  const x: ExplicitSettings = { raw, label, host: parsed.host };

  for (const option of ['username', 'user'] as const) {
    const value = raw[option];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '' || /[\s\x00-\x1f]/.test(value) || value.startsWith('-')) {
      throw bad(option, `must be a user name, got ${describe(value)}`);
    }
    if (x.user !== undefined && x.user !== value)
      throw bad(option, `("${value}") contradicts username "${x.user}"`);
    x.user = value;
  }
  if (parsed.user !== undefined) {
    if (x.user !== undefined && x.user !== parsed.user) {
      throw bad('username', `("${x.user}") contradicts the user in host "${raw.host}"`);
    }
    x.user = parsed.user;
  }

  if (raw.port !== undefined) {
    const port = typeof raw.port === 'string' && /^\d+$/.test(raw.port) ? Number(raw.port) : raw.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw bad('port', `must be an integer from 1 to 65535, got ${describe(raw.port)}`);
    }
    if (parsed.port !== undefined && parsed.port !== port) {
      throw bad('port', `(${port}) contradicts the port in host "${raw.host}"`);
    }
    x.port = port;
  } else if (parsed.port !== undefined) {
    x.port = parsed.port;
  }
  if (x.port !== undefined && x.port !== 22)
    label = `${label.includes(':') ? `[${label}]` : label}:${x.port}`;
  x.label = label;

  if (raw.privateKey !== undefined) {
    const key = raw.privateKey;
    if (Buffer.isBuffer(key)) x.privateKey = { key };
    else if (typeof key === 'string' && /-----BEGIN|^PuTTY-User-Key-File/.test(key))
      x.privateKey = { key: Buffer.from(key) };
    else if (typeof key === 'string' && key.trim() !== '') x.privateKey = { path: local(key, 'privateKey') };
    else throw bad('privateKey', 'must be a key file path, or the key text or a Buffer holding it');
  }
  for (const option of ['passphrase', 'password', 'sudoPassword'] as const) {
    const value = raw[option];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw bad(option, 'must be a string'); // never echo a secret
    x[option] = value;
  }
  if (raw.agent !== undefined) {
    if (raw.agent !== false && (typeof raw.agent !== 'string' || raw.agent === '')) {
      throw bad('agent', `must be an ssh-agent socket path or false, got ${describe(raw.agent)}`);
    }
    x.agent = raw.agent === false ? false : local(raw.agent, 'agent');
  }
  if (raw.forwardAgent !== undefined) {
    const f = raw.forwardAgent;
    if (typeof f !== 'boolean' && (typeof f !== 'string' || f === ''))
      throw bad('forwardAgent', `must be true, false or an ssh-agent socket path, got ${describe(f)}`);
    x.forwardAgent = typeof f === 'string' ? local(f, 'forwardAgent') : f;
  }
  if (raw.jump !== undefined && raw.via !== undefined)
    throw bad('via', 'and jump are the same option; give one');
  const jump = raw.jump ?? raw.via;
  if (jump !== undefined) x.jump = jumpList(jump, raw.jump !== undefined ? 'jump' : 'via', label, bad);
  if (raw.knownHosts !== undefined) {
    const files = typeof raw.knownHosts === 'string' ? [raw.knownHosts] : raw.knownHosts;
    if (!Array.isArray(files) || files.some((f) => typeof f !== 'string' || f === '')) {
      throw bad('knownHosts', `must be a file path or an array of them, got ${describe(raw.knownHosts)}`);
    }
    x.knownHosts = files.map((f) => local(f, 'knownHosts'));
  }
  if (raw.hostKeyPolicy !== undefined) {
    if (!HOST_KEY_POLICIES.includes(raw.hostKeyPolicy)) {
      throw bad(
        'hostKeyPolicy',
        `must be 'strict', 'accept-new' or 'off', got ${describe(raw.hostKeyPolicy)}`,
      );
    }
    x.hostKeyPolicy = raw.hostKeyPolicy;
  }
  if (raw.connectTimeout !== undefined) {
    x.connectTimeoutMs = parseDuration(raw.connectTimeout, 'connectTimeout', label);
    if (x.connectTimeoutMs === 0) throw bad('connectTimeout', 'must be more than 0');
  }
  if (raw.keepaliveInterval !== undefined) {
    x.keepaliveIntervalMs = parseDuration(raw.keepaliveInterval, 'keepaliveInterval', label);
  }
  if (raw.sshConfig !== undefined) {
    if (raw.sshConfig !== false && (typeof raw.sshConfig !== 'string' || raw.sshConfig === '')) {
      throw bad('sshConfig', `must be an ssh_config file path or false, got ${describe(raw.sshConfig)}`);
    }
    x.sshConfig = raw.sshConfig === false ? false : local(raw.sshConfig, 'sshConfig');
  }
  if (raw.identitiesOnly !== undefined) {
    if (typeof raw.identitiesOnly !== 'boolean')
      throw bad('identitiesOnly', `must be true or false, got ${describe(raw.identitiesOnly)}`);
    x.identitiesOnly = raw.identitiesOnly;
  }
  if (raw.hostKeyAlias !== undefined) {
    if (typeof raw.hostKeyAlias !== 'string' || !/^\S+$/.test(raw.hostKeyAlias)) {
      throw bad('hostKeyAlias', `must be a name without spaces, got ${describe(raw.hostKeyAlias)}`);
    }
    x.hostKeyAlias = raw.hostKeyAlias;
  }
  if (raw.maxSessions !== undefined) {
    if (typeof raw.maxSessions !== 'number' || !Number.isInteger(raw.maxSessions) || raw.maxSessions < 1) {
      throw bad('maxSessions', `must be a whole number of at least 1, got ${describe(raw.maxSessions)}`);
    }
    x.maxSessions = raw.maxSessions;
  }
  if (raw.persistentShell !== undefined) {
    if (typeof raw.persistentShell !== 'boolean')
      throw bad('persistentShell', `must be true or false, got ${describe(raw.persistentShell)}`);
    x.persistentShell = raw.persistentShell;
  }
  if (raw.transport !== undefined) {
    if (!SSH_TRANSPORTS.includes(raw.transport))
      throw bad('transport', `must be 'ssh2' or 'openssh', got ${describe(raw.transport)}`);
    x.transport = raw.transport;
  }
  return x;
}

/** `'a,b'`, an object, or an array of these, as a flat list of hops; `'none'` or `[]` for none. */
function jumpList(
  jump: unknown,
  option: string,
  label: string,
  bad: (option: string, why: string) => UsageError,
): Array<string | SshTargetOptions> {
  const items = Array.isArray(jump) ? jump : [jump];
  const hops: Array<string | SshTargetOptions> = [];
  for (const item of items) {
    if (typeof item === 'string') {
      if (item.trim().toLowerCase() === 'none' && items.length === 1) return [];
      for (const part of item.split(',')) {
        parseTargetString(part, label);
        hops.push(part.trim());
      }
    } else if (
      item !== null &&
      typeof item === 'object' &&
      typeof (item as SshTargetOptions).host === 'string'
    ) {
      hops.push(item as SshTargetOptions);
    } else {
      throw bad(
        option,
        `must be a host ("user@bastion:port"), an options object with a host, or an array of them, got ${describe(item)}`,
      );
    }
  }
  return hops;
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
