// known_hosts as OpenSSH 9.2 reads and writes it: plain, wildcard and negated patterns, hashed
// `|1|salt|hash` names, `[host]:port`, `@revoked`. `@cert-authority` lines are skipped: ssh2 does not
// verify host certificates, so a CA line can neither accept nor reject a plain host key.
//
// Judgement, measured against `ssh` 9.2: a host key that equals an entry for the name is a match;
// otherwise any entry for the name, of any key type, makes it "changed" (and the last such entry is
// the one reported), so the connection layer must prefer the key types already known for the host
// (see knownHostKeyTypes / preferKnownHostKeyAlgorithms) as OpenSSH does; a matching `@revoked`
// entry overrides everything.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { isOutOfFiles } from '../local/fd-limit.js';
import { ConnectionError } from '../process/errors.js';
import { FileCache } from './file-cache.js';
import { matchPatternList } from './ssh-config.js';
import type { HostKeyPolicy } from './types.js';

export interface KnownHostEntry {
  file: string;
  /** 1-based. */
  line: number;
  marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written: a pattern list, or a hashed `|1|salt|hash` name. */
  hosts: string;
  keyType: string;
  key: Buffer;
}

export interface ParsedKnownHosts {
  entries: KnownHostEntry[];
  /** Lines that are neither entries, comments nor blank (ignored, as OpenSSH does). */
  invalid: Array<{ line: number; reason: string }>;
}

export type HostKeyCheck =
  | { status: 'match'; file: string; line: number }
  | { status: 'unknown'; unreadable?: Array<{ file: string; reason: string }> }
  | { status: 'changed'; file: string; line: number; knownType: string }
  | { status: 'revoked'; file: string; line: number };

export interface CheckHostKeyOptions {
  files: string[];
  /** The name(s) to look up: HostKeyAlias, else HostName, as `[host]:port` when the port is not 22. */
  names: string | string[];
  /** Informational: the type is taken from the key blob itself. */
  keyType?: string;
  keyBlob: Buffer;
}

export function parseKnownHosts(text: string, file: string): ParsedKnownHosts {
  const entries: KnownHostEntry[] = [];
  const invalid: ParsedKnownHosts['invalid'] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const content = lines[i]!.replace(/\r$/, '').replace(/^[ \t]+/, '');
    if (content === '' || content.startsWith('#')) continue;
    const fields = content.split(/[ \t]+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else {
        invalid.push({ line: i + 1, reason: `unknown marker ${m}` });
        continue;
      }
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
      invalid.push({ line: i + 1, reason: 'expected: host-patterns key-type base64-key [comment]' });
      continue;
    }
    const key = Buffer.from(base64, 'base64');
    if (keyTypeOfBlob(key) !== keyType) {
      invalid.push({ line: i + 1, reason: `the key is not of type ${keyType}` });
      continue;
    }
    entries.push({ file, line: i + 1, marker, hosts, keyType, key });
  }
  return { entries, invalid };
}

/** Whether a known_hosts host field names `name` (lowercase): hashed, or a pattern list with negation. */
export function entryMatchesName(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) {
    const [, magic, salt, hash] = hosts.split('|');
    if (magic !== '1' || salt === undefined || hash === undefined) return false;
    const saltBytes = Buffer.from(salt, 'base64');
    if (saltBytes.length !== 20) return false;
    return createHmac('sha1', saltBytes).update(name).digest('base64') === hash;
  }
  return matchPatternList(name, hosts, true) === 1;
}

/** `|1|salt|hash` for a name, as `ssh-keygen -H` and HashKnownHosts write it. */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const hash = createHmac('sha1', salt).update(name).digest('base64');
  return `|1|${salt.toString('base64')}|${hash}`;
}

/** The key type named inside an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`...). */
export function keyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return undefined;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** `SHA256:...`, as OpenSSH prints fingerprints. */
export function sshFingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export function knownHostsNameFor(hostname: string, port: number): string {
  return port === 22 ? hostname : `[${hostname}]:${port}`;
}

// The parse promise is cached, so a thousand hosts checked at once share one read of the file.
const fileCache = new FileCache<IndexedKnownHosts>();

/** Entries whose host field is a plain list of names, by name; the rest (patterns, hashed) scanned. */
interface IndexedKnownHosts extends ParsedKnownHosts {
  byName: Map<string, KnownHostEntry[]>;
  scanned: KnownHostEntry[];
}

function indexKnownHosts(parsed: ParsedKnownHosts): IndexedKnownHosts {
  const byName = new Map<string, KnownHostEntry[]>();
  const scanned: KnownHostEntry[] = [];
  for (const entry of parsed.entries) {
    if (entry.hosts.startsWith('|') || /[*?!]/.test(entry.hosts)) {
      scanned.push(entry);
      continue;
    }
    for (const name of new Set(entry.hosts.toLowerCase().split(','))) {
      const list = byName.get(name);
      if (list) list.push(entry);
      else byName.set(name, [entry]);
    }
  }
  return { ...parsed, byName, scanned };
}

/** A known_hosts file, parsed (cached while its stat stays: file-cache.ts). Undefined if missing. */
export async function readKnownHosts(file: string): Promise<ParsedKnownHosts | undefined> {
  return readIndexed(file);
}

async function readIndexed(file: string): Promise<IndexedKnownHosts | undefined> {
  if (file === '/dev/null') return indexKnownHosts({ entries: [], invalid: [] }); // no stat needed
  let st;
  try {
    st = await fsp.stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  if (!st.isFile()) return indexKnownHosts({ entries: [], invalid: [] }); // /dev/null and the like
  return fileCache.get(file, st, () =>
    fsp.readFile(file, 'utf8').then((text) => indexKnownHosts(parseKnownHosts(text, file))),
  );
}

/** What known_hosts files say about a host's names: its entries in file order, and the files that could not be read. */
export interface KnownHostsLookup {
  entries: KnownHostEntry[];
  unreadable: Array<{ file: string; reason: string }>;
}

/**
 * Reads (or takes from the cache) each file and finds the entries for the names. A connection looks
 * up once, when it starts, and checks the key offered against that: an edit is seen by the next one.
 */
export async function lookupKnownHosts(files: string[], names: string | string[]): Promise<KnownHostsLookup> {
  const wanted = (Array.isArray(names) ? names : [names]).map((n) => n.toLowerCase());
  const entries: KnownHostEntry[] = [];
  const unreadable: Array<{ file: string; reason: string }> = [];
  for (const file of files) {
    let parsed: IndexedKnownHosts | undefined;
    try {
      parsed = await readIndexed(file);
    } catch (e) {
      // Out of descriptors says nothing about the host's key: the connection fails as such.
      if (isOutOfFiles(e)) throw e;
      unreadable.push({ file, reason: (e as Error).message });
      continue;
    }
    if (!parsed) continue;
    const found = new Set<KnownHostEntry>();
    for (const name of wanted) for (const entry of parsed.byName.get(name) ?? []) found.add(entry);
    for (const entry of parsed.scanned) {
      if (wanted.some((name) => entryMatchesName(entry.hosts, name))) found.add(entry);
    }
    entries.push(...[...found].sort((a, b) => a.line - b.line)); // file order, as OpenSSH reads it
  }
  return { entries, unreadable };
}

/** What known_hosts says about a host key, as OpenSSH's check_key_in_hostkeys. Missing files are skipped. */
export async function checkHostKey(
  options: CheckHostKeyOptions,
  lookup?: KnownHostsLookup,
): Promise<HostKeyCheck> {
  const { entries, unreadable } = lookup ?? (await lookupKnownHosts(options.files, options.names));
  const key = options.keyBlob;
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', file: revoked.file, line: revoked.line };
  let changed: KnownHostEntry | undefined;
  for (const entry of entries) {
    if (entry.marker !== undefined) continue;
    if (entry.key.equals(key)) return { status: 'match', file: entry.file, line: entry.line };
    changed = entry;
  }
  if (changed)
    return { status: 'changed', file: changed.file, line: changed.line, knownType: changed.keyType };
  return unreadable.length > 0 ? { status: 'unknown', unreadable } : { status: 'unknown' };
}

/** Key types recorded for the names, in file order: offer these host key algorithms first. */
export async function knownHostKeyTypes(options: {
  files: string[];
  names: string | string[];
}): Promise<string[]> {
  return knownKeyTypes(await lookupKnownHosts(options.files, options.names));
}

/** Key types of a lookup's entries (markers aside), in file order. */
export function knownKeyTypes(lookup: KnownHostsLookup): string[] {
  return [...new Set(lookup.entries.filter((e) => e.marker === undefined).map((e) => e.keyType))];
}

/** Host key algorithms with those of already known key types first (OpenSSH's order_hostkeyalgs). */
export function preferKnownHostKeyAlgorithms(knownTypes: string[], algorithms: string[]): string[] {
  const known = (alg: string): boolean =>
    knownTypes.includes(alg) || (alg.startsWith('rsa-sha2-') && knownTypes.includes('ssh-rsa'));
  return [...algorithms.filter(known), ...algorithms.filter((alg) => !known(alg))];
}

/** One known_hosts line (or one per name when hashed, as OpenSSH), names lowercased. */
export function formatKnownHostLines(names: string | string[], keyBlob: Buffer, hash = false): string {
  const list = (Array.isArray(names) ? names : [names]).map((n) => n.toLowerCase());
  const type = keyTypeOfBlob(keyBlob);
  if (!type) throw new TypeError('appendKnownHost: the key blob is not an SSH public key');
  if (list.length === 0 || list.some((n) => n === '' || /[\s,]/.test(n))) {
    throw new TypeError(`appendKnownHost: invalid host names ${JSON.stringify(list)}`);
  }
  const key = keyBlob.toString('base64');
  if (hash) return list.map((n) => `${hashHostName(n)} ${type} ${key}\n`).join('');
  return `${list.join(',')} ${type} ${key}\n`;
}

export type AppendResult = { status: 'added'; file: string } | Exclude<HostKeyCheck, { status: 'unknown' }>;

const queues = new Map<string, Promise<void>>();

/** Runs fn after every earlier fn for the same key has settled (an in-process lock per file). */
function serialize<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const run = (queues.get(key) ?? Promise.resolve()).then(fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

/**
 * Record a host key. Calls for one file are serialised in this process, and each re-checks the file
 * (and `checkFiles`) once its turn comes: a key that is already there is not added twice, and a
 * different key recorded meanwhile is reported instead of being added beside it. The line goes in
 * one O_APPEND write, so other processes appending too cannot interleave within it. The file is
 * created 0600, its folder 0700. `keyType` is informational: the type is read from the blob.
 */
export async function appendKnownHost(
  file: string,
  names: string | string[],
  keyType: string,
  keyBlob: Buffer,
  options: { hash?: boolean; checkFiles?: string[] } = {},
): Promise<AppendResult> {
  const text = formatKnownHostLines(names, keyBlob, options.hash);
  void keyType;
  const target = path.resolve(file);
  return serialize(target, async () => {
    const files = [target, ...(options.checkFiles ?? []).filter((f) => path.resolve(f) !== target)];
    const check = await checkHostKey({ files, names, keyBlob });
    if (check.status !== 'unknown') return check;
    await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const handle = await fsp.open(target, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      const st = await handle.stat();
      let prefix = '';
      if (st.isFile() && st.size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, st.size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
      const data = Buffer.from(prefix + text);
      const { bytesWritten } = await handle.write(data);
      if (bytesWritten !== data.length) throw new Error(`short write to ${target}`);
    } finally {
      await handle.close();
    }
    return { status: 'added', file: target };
  });
}

/** What a connection needs to check a host key. ResolvedTarget has all of it. */
export interface HostKeyTarget {
  label: string;
  hostname: string;
  port: number;
  hostKeyAlias: string | undefined;
  knownHostsName: string;
  knownHostsFiles: string[];
  userKnownHostsFiles: string[];
  hostKeyPolicy: HostKeyPolicy;
  hashKnownHosts: boolean;
}

export type HostKeyVerdict =
  | { status: 'match'; file: string; line: number }
  | { status: 'added'; file: string }
  /**
   * Accepted without being verified or recorded: policy 'off', or 'accept-new' with nowhere to write.
   * `unsafe` (a changed or revoked key under 'off'): do not send a password, as OpenSSH.
   */
  | { status: 'accepted'; check: HostKeyCheck; unsafe: boolean; warning?: string };

/**
 * Apply the target's hostKeyPolicy to the key the server presented; throws the ConnectionError to
 * report. `lookup`: the files as the connection read them when it started (else they are read now).
 */
export async function verifyHostKey(
  target: HostKeyTarget,
  keyBlob: Buffer,
  lookup?: KnownHostsLookup,
): Promise<HostKeyVerdict> {
  const names = target.knownHostsName;
  const check = await checkHostKey({ files: target.knownHostsFiles, names, keyBlob }, lookup);
  const policy = target.hostKeyPolicy;
  switch (check.status) {
    case 'match':
      return check;
    case 'revoked':
      if (policy === 'off')
        return {
          status: 'accepted',
          check,
          unsafe: true,
          warning: revokedHostKeyError(target, keyBlob, check).message,
        };
      throw revokedHostKeyError(target, keyBlob, check);
    case 'changed':
      if (policy === 'off')
        return {
          status: 'accepted',
          check,
          unsafe: true,
          warning: changedHostKeyError(target, keyBlob, check).message,
        };
      throw changedHostKeyError(target, keyBlob, check);
    case 'unknown': {
      if (policy === 'off') return { status: 'accepted', check, unsafe: false };
      if (policy === 'strict') throw unknownHostKeyError(target, keyBlob, check);
      const file = target.userKnownHostsFiles[0];
      if (file === undefined) {
        return {
          status: 'accepted',
          check,
          unsafe: false,
          warning: `${target.label}: no user known_hosts file to record the new host key in`,
        };
      }
      let added: AppendResult;
      try {
        added = await appendKnownHost(file, names, '', keyBlob, {
          hash: target.hashKnownHosts,
          checkFiles: target.knownHostsFiles,
        });
      } catch (e) {
        return {
          status: 'accepted',
          check,
          unsafe: false,
          warning: `${target.label}: could not record the new host key in ${file}: ${(e as Error).message}`,
        };
      }
      if (added.status === 'changed') throw changedHostKeyError(target, keyBlob, added);
      if (added.status === 'revoked') throw revokedHostKeyError(target, keyBlob, added);
      return added;
    }
  }
}

type ErrorTarget = Pick<
  HostKeyTarget,
  | 'label'
  | 'hostname'
  | 'port'
  | 'hostKeyAlias'
  | 'knownHostsName'
  | 'knownHostsFiles'
  | 'userKnownHostsFiles'
>;

export function unknownHostKeyError(
  target: ErrorTarget,
  keyBlob: Buffer,
  check?: { unreadable?: Array<{ file: string; reason: string }> },
): ConnectionError {
  const type = keyTypeOfBlob(keyBlob) ?? 'unknown-type';
  const file = target.userKnownHostsFiles[0] ?? target.knownHostsFiles[0] ?? '~/.ssh/known_hosts';
  const scan = `ssh-keyscan -p ${target.port} ${shellQuote(target.hostname)}`;
  const record = target.hostKeyAlias
    ? `${scan} | sed 's/^[^ ]*/${target.hostKeyAlias}/' >> ${shellQuote(file)}`
    : `${scan} >> ${shellQuote(file)}`;
  const unreadable = check?.unreadable?.length
    ? ` (could not read: ${check.unreadable.map((u) => `${u.file}: ${u.reason}`).join('; ')})`
    : '';
  return new ConnectionError(
    'unknown-host-key',
    target.label,
    `no host key for ${target.knownHostsName} in ${listFiles(target.knownHostsFiles)}${unreadable}; the server offered ${type} ${sshFingerprint(keyBlob)}, and hostKeyPolicy is 'strict'`,
    {
      hint:
        `If that fingerprint is the host's (ask its administrator, or check its console), record it:\n  ${record}\n` +
        `or set hostKeyPolicy: 'accept-new' to record the keys of hosts seen for the first time.`,
    },
  );
}

export function changedHostKeyError(
  target: ErrorTarget,
  keyBlob: Buffer,
  found: { file: string; line: number; knownType: string },
): ConnectionError {
  const type = keyTypeOfBlob(keyBlob) ?? 'unknown-type';
  return new ConnectionError(
    'changed-host-key',
    target.label,
    `the ${type} key the server offered (${sshFingerprint(keyBlob)}) is not the one recorded for ${target.knownHostsName}: ` +
      `offending ${found.knownType} key at ${found.file}:${found.line}. Someone could be intercepting the connection (man-in-the-middle), or the host key was changed.`,
    {
      hint:
        `If the change is expected (the host was reinstalled or its key rotated), remove the old key and connect again:\n` +
        `  ssh-keygen -R ${shellQuote(target.knownHostsName)} -f ${shellQuote(found.file)}\n` +
        `(or delete line ${found.line} of that file); with hostKeyPolicy 'accept-new' the new key is then recorded.`,
    },
  );
}

export function revokedHostKeyError(
  target: ErrorTarget,
  keyBlob: Buffer,
  found: { file: string; line: number },
): ConnectionError {
  const type = keyTypeOfBlob(keyBlob) ?? 'unknown-type';
  return new ConnectionError(
    'changed-host-key',
    target.label,
    `the ${type} host key the server offered (${sshFingerprint(keyBlob)}) is marked @revoked at ${found.file}:${found.line}; refusing to connect`,
    {
      hint: 'A revoked key can mean that a stolen key is being used to impersonate this host: tell its administrator.',
    },
  );
}

function listFiles(files: string[]): string {
  return files.length === 0 ? 'no known_hosts file (UserKnownHostsFile none)' : files.join(', ');
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
