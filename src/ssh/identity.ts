// Reading the private keys a target may authenticate with, in the order resolution chose.
// Keys the user named in the privateKey option must work: a missing file, a missing or wrong
// passphrase is an 'auth' error at once. Keys from ssh_config or the default files are skipped with a
// reason instead (as ssh does when it cannot prompt), because the agent may hold them already.
// Messages name the host, the user and the file, never a passphrase or key material.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { ParsedKey } from 'ssh2';
import { isOutOfFiles } from '../local/fd-limit.js';
import { ConnectionError } from '../process/errors.js';
import { sshFingerprint } from './known-hosts.js';
import { loadSsh2, type Ssh2 } from './ssh2-load.js';
import type { IdentitySource, ResolvedTarget } from './types.js';

export interface LoadedIdentity {
  source: IdentitySource;
  /** Path and origin, for messages. */
  label: string;
  key: ParsedKey;
  /** e.g. 'ssh-ed25519'. */
  type: string;
  /** The public key blob, to match agent keys and for `publickey` queries. */
  publicKey: Buffer;
  fingerprint: string;
}

export interface SkippedIdentity {
  source: IdentitySource;
  label: string;
  /** Why it cannot be used, e.g. "encrypted and no passphrase was given". */
  reason: string;
  /** The public half when it could be read anyway (OpenSSH format or a .pub file): the agent may hold it. */
  publicKey?: Buffer;
}

export interface LoadedIdentities {
  /** Usable keys, in order. */
  keys: LoadedIdentity[];
  skipped: SkippedIdentity[];
}

export type IdentityTarget = Pick<ResolvedTarget, 'label' | 'hostname' | 'user' | 'identities' | 'agent'> & {
  readonly passphrase?: string;
  readonly password?: string;
};

/**
 * Read and parse the target's identities. Throws ConnectionError 'auth' for a privateKey option that
 * cannot be used, and when nothing at all is left to authenticate with (no key, agent or password)
 * because every identity was skipped.
 */
export async function loadIdentities(target: IdentityTarget): Promise<LoadedIdentities> {
  const keys: LoadedIdentity[] = [];
  const skipped: SkippedIdentity[] = [];
  for (const source of target.identities) {
    const about = { label: target.label, user: target.user, hostname: target.hostname, source };
    let data: Buffer;
    if (source.path === undefined) {
      data = source.key ?? Buffer.alloc(0);
    } else {
      try {
        data = await fsp.readFile(source.path);
      } catch (e) {
        // Out of descriptors is this machine's problem, not the key's: the connection fails as such.
        if (isOutOfFiles(e)) throw e;
        const problem = readProblem(e);
        if (source.origin === 'option') throw readError(about, problem, e);
        skipped.push({ source, label: source.label, reason: problem });
        continue;
      }
    }
    const parsed = parseCached(await loadSsh2(), data, target.passphrase);
    if ('key' in parsed) {
      const publicKey = parsed.key.getPublicSSH();
      keys.push({
        source,
        label: source.label,
        key: parsed.key,
        type: parsed.key.type,
        publicKey,
        fingerprint: sshFingerprint(publicKey),
      });
      continue;
    }
    if (source.origin === 'option') throw keyError(about, parsed, target.passphrase !== undefined);
    const publicKey = await publicKeyOf(data, source.path);
    skipped.push({
      source,
      label: source.label,
      reason: reasonText(parsed, target.passphrase !== undefined),
      ...(publicKey ? { publicKey } : {}),
    });
  }
  if (keys.length === 0 && skipped.length > 0 && !target.agent && target.password === undefined) {
    throw new ConnectionError(
      'auth',
      target.label,
      `nothing to authenticate ${target.user}@${target.hostname} with: ` +
        skipped.map((s) => `${s.label}: ${s.reason}`).join('; ') +
        '; and no ssh-agent (SSH_AUTH_SOCK) or password',
      {
        hint: 'Give the passphrase option, load the key into ssh-agent (ssh-add), or name a usable key with privateKey.',
      },
    );
  }
  return { keys, skipped };
}

/**
 * Parse one private key for a target; throws ConnectionError 'auth' naming the host, user and key
 * (`keyLabel`) when it is encrypted without a passphrase, the passphrase is wrong, or it is not a key.
 */
export async function parsePrivateKey(
  data: Buffer | string,
  passphrase: string | undefined,
  about: { label: string; user: string; hostname: string; keyLabel: string; path?: string },
): Promise<ParsedKey> {
  const parsed = parseCached(await loadSsh2(), Buffer.from(data), passphrase);
  if ('key' in parsed) return parsed.key;
  const source: IdentitySource = { path: about.path, origin: 'option', label: about.keyLabel };
  throw keyError({ ...about, source }, parsed, passphrase !== undefined);
}

type ParseProblem = {
  problem: 'needs-passphrase' | 'bad-passphrase' | 'public-key' | 'unsupported';
  detail: string;
};
type ParseResult = { key: ParsedKey } | ParseProblem;

/** Parsed keys by content and passphrase digest: encrypted keys cost a bcrypt run each time otherwise. */
const parsedKeys = new Map<string, ParseResult>();
const CACHE_LIMIT = 256;
const CACHE_SECRET = randomBytes(32);

function parseCached(ssh2: Ssh2, data: Buffer, passphrase: string | undefined): ParseResult {
  const id =
    createHash('sha256').update(data).digest('hex') +
    (passphrase === undefined
      ? ''
      : ':' + createHmac('sha256', CACHE_SECRET).update(passphrase).digest('hex'));
  let result = parsedKeys.get(id);
  if (!result) {
    result = parseKey(ssh2, data, passphrase);
    if (parsedKeys.size >= CACHE_LIMIT) parsedKeys.delete(parsedKeys.keys().next().value!);
    parsedKeys.set(id, result);
  }
  return result;
}

function parseKey(ssh2: Ssh2, data: Buffer, passphrase: string | undefined): ParseResult {
  let parsed: ReturnType<Ssh2['parseKey']>;
  try {
    parsed = ssh2.parseKey(data, passphrase);
  } catch (e) {
    parsed = e instanceof Error ? e : new Error(String(e));
  }
  if (Array.isArray(parsed)) parsed = parsed[0] ?? new Error('no key in the file');
  if (parsed instanceof Error) {
    const message = parsed.message;
    if (/no passphrase given/i.test(message)) return { problem: 'needs-passphrase', detail: message };
    if (/passphrase|integrity check|decrypt/i.test(message))
      return { problem: 'bad-passphrase', detail: message };
    return { problem: 'unsupported', detail: message };
  }
  if (!parsed.isPrivateKey()) return { problem: 'public-key', detail: 'it holds a public key only' };
  return { key: parsed };
}

function reasonText(p: ParseProblem, hadPassphrase: boolean): string {
  switch (p.problem) {
    case 'needs-passphrase':
      return 'encrypted and no passphrase was given';
    case 'bad-passphrase':
      return hadPassphrase
        ? 'the passphrase given does not decrypt it'
        : 'encrypted and no passphrase was given';
    case 'public-key':
      return 'it is a public key, not a private key';
    case 'unsupported':
      return `not a private key that can be read (${p.detail})`;
  }
}

interface About {
  label: string;
  user: string;
  hostname: string;
  source: IdentitySource;
}

function keyError(about: About, p: ParseProblem, hadPassphrase: boolean): ConnectionError {
  const what = `private key ${about.source.label} for ${about.user}@${about.hostname}`;
  const file = about.source.path;
  switch (p.problem === 'bad-passphrase' && !hadPassphrase ? 'needs-passphrase' : p.problem) {
    case 'needs-passphrase':
      return new ConnectionError('auth', about.label, `${what} is encrypted and no passphrase was given`, {
        hint: `Give the passphrase option, or load the key into ssh-agent${file ? ` (ssh-add ${file})` : ''} and leave privateKey out.`,
      });
    case 'bad-passphrase':
      return new ConnectionError('auth', about.label, `the passphrase given does not decrypt ${what}`, {
        hint: `Check the passphrase option${file ? `; 'ssh-keygen -y -f ${file}' asks for the passphrase and tells whether it is right` : ''}.`,
      });
    case 'public-key':
      return new ConnectionError('auth', about.label, `${what} is a public key, not a private key`, {
        hint: 'Name the private key file (the one without .pub).',
      });
    default:
      return new ConnectionError(
        'auth',
        about.label,
        `${what} is not a private key that can be read: ${p.detail}`,
        {
          hint: 'Use an OpenSSH or PEM private key (ed25519, ecdsa or rsa).',
        },
      );
  }
}

function readProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return (e as Error).message;
}

function readError(about: About, problem: string, cause: unknown): ConnectionError {
  const hint =
    problem === 'permission denied'
      ? `Make ${about.source.path} readable by this user (it should be yours, mode 600).`
      : 'Check the privateKey path (it is read on this machine, ~ is your home), or leave privateKey out to use ~/.ssh/config, the ssh-agent and the default keys.';
  return new ConnectionError(
    'auth',
    about.label,
    `cannot read private key ${about.source.path} for ${about.user}@${about.hostname}: ${problem}`,
    { hint, cause },
  );
}

/** The public half of a key that cannot be decrypted: from the OpenSSH container, or from `path.pub`. */
async function publicKeyOf(data: Buffer, file: string | undefined): Promise<Buffer | undefined> {
  const fromContainer = openSshPublicKey(data);
  if (fromContainer) return fromContainer;
  if (file === undefined) return undefined;
  const pub = await fsp.readFile(`${file}.pub`).catch(() => undefined);
  if (!pub) return undefined;
  const parsed = (await loadSsh2()).parseKey(pub);
  return parsed instanceof Error || Array.isArray(parsed) ? undefined : parsed.getPublicSSH();
}

/** "openssh-key-v1": cipher, kdf, kdf options, key count, then the first public key, unencrypted. */
function openSshPublicKey(data: Buffer): Buffer | undefined {
  const text = data.toString('latin1');
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m) return undefined;
  const raw = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (raw.subarray(0, magic.length).toString('latin1') !== magic) return undefined;
  let offset = magic.length;
  const next = (): Buffer | undefined => {
    if (offset + 4 > raw.length) return undefined;
    const length = raw.readUInt32BE(offset);
    if (offset + 4 + length > raw.length) return undefined;
    const value = raw.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    return value;
  };
  if (!next() || !next() || !next()) return undefined; // cipher, kdf, kdf options
  offset += 4; // number of keys
  return next();
}
