// Reading the private keys a target may authenticate with, in the order resolution chose.
// Keys the user named in the privateKey option must work: a missing file, a missing or wrong
// passphrase is an 'auth' error at once. Keys from ssh_config or the default files are skipped with a
// reason instead (as ssh does when it cannot prompt), because the agent may hold them already.
// Messages name the host, the user and the file, never a passphrase or key material.
import { createHash, createHmac, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { ParsedKey } from 'ssh2';
import { isOutOfFiles } from '../local/fd-limit.js';
import { ConnectionError } from '../process/errors.js';
import { FileCache } from './file-cache.js';
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
    let file: KeyFile;
    if (source.path === undefined) {
      file = keyText(source.key ?? Buffer.alloc(0));
    } else {
      try {
        file = await readKeyFile(source.path);
      } catch (e) {
        // Out of descriptors is this machine's problem, not the key's: the connection fails as such.
        if (isOutOfFiles(e)) throw e;
        const problem = readProblem(e);
        if (source.origin === 'option') throw readError(about, problem, e);
        skipped.push({ source, label: source.label, reason: problem });
        continue;
      }
    }
    const parsed = parseCached(await loadSsh2(), file, target.passphrase);
    if ('key' in parsed) {
      keys.push({
        source,
        label: source.label,
        key: parsed.key,
        type: parsed.key.type,
        publicKey: parsed.publicKey,
        fingerprint: parsed.fingerprint,
      });
      continue;
    }
    if (source.origin === 'option') throw keyError(about, parsed, target.passphrase !== undefined);
    const publicKey = await publicKeyOf(file.data, source.path);
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
  const parsed = parseCached(await loadSsh2(), keyText(Buffer.from(data)), passphrase);
  if ('key' in parsed) return parsed.key;
  const source: IdentitySource = { path: about.path, origin: 'option', label: about.keyLabel };
  throw keyError({ ...about, source }, parsed, passphrase !== undefined);
}

type ParseProblem = {
  problem: 'needs-passphrase' | 'bad-passphrase' | 'public-key' | 'unsupported';
  detail: string;
};
type ParsedIdentity = { key: ParsedKey; publicKey: Buffer; fingerprint: string };
type ParseResult = ParsedIdentity | ParseProblem;

/** Entries in each cache below; the oldest goes first. */
const CACHE_LIMIT = 256;

/** A key's text and its SHA-256, what parsed keys are cached by. */
interface KeyFile {
  data: Buffer;
  digest: string;
}

function keyText(data: Buffer): KeyFile {
  return { data, digest: createHash('sha256').update(data).digest('hex') };
}

/**
 * Key files by path, read again when their stat changes: a connection then costs one stat instead
 * of open, stat, read and close (about 80 µs of CPU, measured with 2,000 reads at once).
 */
const keyFiles = new FileCache<KeyFile>(CACHE_LIMIT);

async function readKeyFile(path: string): Promise<KeyFile> {
  const st = await fsp.stat(path);
  return keyFiles.get(path, st, () => fsp.readFile(path).then(keyText));
}

/**
 * Parsed keys by content and passphrase digest: encrypted keys cost a bcrypt run each time
 * otherwise, and a parsed key signs with the KeyObject made at parse time. A passphrase that
 * differs is a different entry: a key is never served to a passphrase that did not decrypt it.
 */
const parsedKeys = new Map<string, ParseResult>();
const CACHE_SECRET = randomBytes(32);

function parseCached(ssh2: Ssh2, file: KeyFile, passphrase: string | undefined): ParseResult {
  const id =
    file.digest +
    (passphrase === undefined
      ? ''
      : ':' + createHmac('sha256', CACHE_SECRET).update(passphrase).digest('hex'));
  let result = parsedKeys.get(id);
  if (!result) {
    result = parseKey(ssh2, file.data, passphrase);
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
  const publicKey = parsed.getPublicSSH();
  return { key: signingOnce(parsed), publicKey, fingerprint: sshFingerprint(publicKey) };
}

/** The hash each key type signs with when ssh2 names none (as ssh2's key parser sets it). */
const DEFAULT_HASH: Record<string, string | null> = {
  'ssh-ed25519': null,
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
  'ssh-rsa': 'sha1',
  'ssh-dss': 'sha1',
};

/**
 * The parsed key, signing with a KeyObject made once. ssh2 signs from the key's PEM text, which
 * OpenSSL parses again for every signature: an ed25519 signature cost 330 µs of CPU from PEM and
 * 26 µs from a KeyObject, an RSA 3072 one 2.1 ms and 1.4 ms (measured here). The KeyObject holds the
 * decrypted key as long as the parsed key does (this module's cache, for the life of the process).
 */
function signingOnce(key: ParsedKey): ParsedKey {
  const hash = DEFAULT_HASH[key.type];
  if (hash === undefined) return key;
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key.getPrivatePEM());
  } catch {
    return key; // ssh2 signs as before
  }
  const signer = Object.create(key) as ParsedKey;
  // Like ssh2's own sign, a failure is returned, not thrown: its callers check for an Error.
  const signWithKeyObject = (data: Buffer | string, algo?: string): Buffer | Error => {
    try {
      return sign(algo || hash, typeof data === 'string' ? Buffer.from(data) : data, keyObject);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  };
  signer.sign = signWithKeyObject as ParsedKey['sign'];
  return signer;
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
