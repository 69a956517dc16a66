// What a host's resolved ssh_config asks for that the ssh2 transport cannot do, and where it says
// so: user certificates (CertificateFile, or a `-cert.pub` beside an identity, which ssh loads on its
// own), FIDO security keys (`sk-` identities), GSSAPI, a `Match exec` block that could apply,
// KnownHostsCommand and PKCS11Provider; and a host known only through an `@cert-authority` line of
// known_hosts (a host certificate). Each is a reason to run the host through the system `ssh`.
//
// Hand-written because it is a list of OpenSSH's features against ssh2's (mscdex/ssh2#551 for
// certificates); the only file reading is a key's type, from its `.pub` or the unencrypted public
// part of an OpenSSH private key file, so no security key or passphrase is needed to tell.
import { promises as fsp } from 'node:fs';
import { ConnectionError } from '../process/errors.js';
import { FileCache } from './file-cache.js';
import { lookupKnownHosts } from './known-hosts.js';
import type { ComputedSshConfig, ConfigEntry } from './ssh-config.js';
import type { HostKeyPolicy, IdentitySource, OpensshNeed } from './types.js';

/** Key types only a security key holds (OpenSSH's KEY_ECDSA_SK and KEY_ED25519_SK). */
const SK_TYPES = new Set(['sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com']);
/** The head of a key file read for its type: the public part comes first in every format. */
const HEAD_BYTES = 8192;

/**
 * Everything the host's config needs from OpenSSH, in the order ssh_config says it. `expandPath`
 * turns a path value into the file ssh would read (tokens, `~`, `${VAR}`); `where` holds the
 * host's known_hosts files, the name its key is recorded under, its host key policy, and which
 * ssh_config files are the system's.
 */
export async function opensshNeeds(
  config: ComputedSshConfig,
  identities: IdentitySource[],
  expandPath: (entry: ConfigEntry, keyword: string, value: string) => string,
  where: {
    files: string[];
    name: string;
    policy: HostKeyPolicy;
    systemConfig: (file: string) => boolean;
  },
): Promise<OpensshNeed[]> {
  const needs: OpensshNeed[] = [];
  const at = (entry: ConfigEntry) => ({ file: entry.file, line: entry.line });
  const get = (keyword: string) => config.values.get(keyword);

  const cert = get('certificatefile');
  if (cert?.args[0] !== undefined) {
    const file = expandPath(cert, 'CertificateFile', cert.args[0]);
    needs.push({ keyword: 'CertificateFile', value: file, feature: 'a user certificate', ...at(cert) });
  }
  // IdentityFile lines as ssh_config wrote them; the privateKey option and default files by label.
  const keyFiles: Array<{ path: string; at: { file: string; line: number | null } }> = [
    ...config.identityFiles.map((e) => ({
      path: expandPath(e, 'IdentityFile', e.args[0]!),
      at: at(e),
    })),
    ...identities
      .filter((id) => id.origin !== 'config' && id.path !== undefined)
      .map((id) => ({ path: id.path!, at: { file: id.label, line: null } })),
  ];
  for (const key of keyFiles) {
    // ssh offers `<identity>-cert.pub` with the key whenever that file exists.
    const certFile = `${key.path}-cert.pub`;
    if (!needs.some((n) => n.value === certFile) && (await isFile(certFile)))
      needs.push({
        keyword: 'IdentityFile',
        value: certFile,
        feature: 'a user certificate beside its key',
        ...key.at,
      });
    const type = await keyType(key.path);
    if (type !== undefined && SK_TYPES.has(type))
      needs.push({
        keyword: 'IdentityFile',
        value: key.path,
        feature: `a FIDO security key (${type})`,
        ...key.at,
      });
  }
  // Debian's and Fedora's /etc/ssh/ssh_config say `GSSAPIAuthentication yes` for every host, and
  // ssh passes over it without a Kerberos ticket: only the user's own config asking for it counts.
  const gssapi = get('gssapiauthentication');
  if (gssapi && !where.systemConfig(gssapi.file) && /^(yes|true)$/i.test(gssapi.args.join(' ')))
    needs.push({
      keyword: 'GSSAPIAuthentication',
      value: 'yes',
      feature: 'GSSAPI (Kerberos) authentication',
      ...at(gssapi),
    });
  for (const m of config.matchExec)
    needs.push({
      keyword: 'Match exec',
      value: m.args[m.args.findIndex((a) => /^!?exec$/i.test(a)) + 1] ?? '',
      feature: 'a Match exec block, which only ssh runs',
      ...at(m),
    });
  for (const [keyword, feature] of [
    ['KnownHostsCommand', 'host keys from a command'],
    ['PKCS11Provider', 'keys on a PKCS#11 token'],
  ] as const) {
    const entry = get(keyword.toLowerCase());
    const value = entry?.args.join(' ');
    if (entry && value && value.toLowerCase() !== 'none')
      needs.push({ keyword, value, feature, ...at(entry) });
  }
  // A host known only by a CA: ssh2 sees its plain key as unknown (it checks no certificate).
  const known = where.policy === 'off' ? { entries: [] } : await lookupKnownHosts(where.files, where.name);
  const ca = known.entries.find((e) => e.marker === 'cert-authority');
  if (ca && !known.entries.some((e) => e.marker === undefined))
    needs.push({
      keyword: '@cert-authority',
      value: `${ca.hosts} ${ca.keyType}`,
      feature: 'a host certificate',
      file: ca.file,
      line: ca.line,
    });
  return needs;
}

async function isFile(file: string): Promise<boolean> {
  return (await fsp.stat(file).catch(() => undefined))?.isFile() ?? false;
}

/** Key types by file, read again when the file's stat changes (file-cache.ts): a fan-out reads each once. */
const keyTypes = new FileCache<string | undefined>();

/** A key's type: the first word of its `.pub`, else the public key inside an OpenSSH private key file. */
export async function keyType(keyFile: string): Promise<string | undefined> {
  const fromPub = await typeIn(`${keyFile}.pub`, (head) => head.trim().split(/\s+/)[0] || undefined);
  return fromPub ?? typeIn(keyFile, opensshPrivateKeyType);
}

async function typeIn(file: string, read: (head: string) => string | undefined): Promise<string | undefined> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined; // missing or unreadable: resolution and authentication say so
  return keyTypes.get(file, st, async () => {
    const head = await readHead(file);
    return head ? read(head.toString('latin1')) : undefined;
  });
}

async function readHead(file: string): Promise<Buffer | undefined> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, 'r');
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } catch {
    return undefined; // missing or unreadable: resolution and authentication say so themselves
  } finally {
    await fh?.close();
  }
}

const OPENSSH_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const OPENSSH_MAGIC = 'openssh-key-v1\0';

/**
 * The type of the first public key in an `openssh-key-v1` file (PROTOCOL.key): magic, cipher name,
 * KDF name, KDF options, a key count, then the public keys, which are never encrypted.
 */
export function opensshPrivateKeyType(text: string): string | undefined {
  const start = text.indexOf(OPENSSH_BEGIN);
  if (start === -1) return undefined;
  const body = text
    .slice(start + OPENSSH_BEGIN.length)
    .split('-----')[0]!
    .replace(/\s+/g, '');
  const blob = Buffer.from(body, 'base64');
  if (blob.toString('latin1', 0, OPENSSH_MAGIC.length) !== OPENSSH_MAGIC) return undefined;
  let p = OPENSSH_MAGIC.length;
  const string = (): Buffer | undefined => {
    if (p + 4 > blob.length) return undefined;
    const n = blob.readUInt32BE(p);
    if (p + 4 + n > blob.length) return undefined;
    const s = blob.subarray(p + 4, p + 4 + n);
    p += 4 + n;
    return s;
  };
  for (let i = 0; i < 3; i++) if (string() === undefined) return undefined; // cipher, kdf, kdf options
  if (p + 4 > blob.length || blob.readUInt32BE(p) < 1) return undefined;
  p += 4;
  const publicKey = string();
  if (!publicKey || publicKey.length < 4) return undefined;
  const n = publicKey.readUInt32BE(0);
  return n > 0 && 4 + n <= publicKey.length ? publicKey.toString('latin1', 4, 4 + n) : undefined;
}

/** One need in words, for messages: `a user certificate (CertificateFile /k-cert.pub, /home/u/.ssh/config:4)`. */
export function describeNeed(need: OpensshNeed): string {
  const where = need.line === null ? need.file : `${need.file}:${need.line}`;
  return `${need.feature} (${need.keyword} ${need.value}, ${where})`;
}

/** Several needs in words: `a, and b`. */
export function describeNeeds(needs: OpensshNeed[]): string {
  return needs.map(describeNeed).join(', and ');
}

/** What the ssh2 transport does not do for this host, as a clause: `its ssh_config asks for a, and b, which ...`. */
export function needsClause(needs: OpensshNeed[]): string {
  return `its ssh_config asks for ${describeNeeds(needs)}, which the ssh2 transport cannot use`;
}

/**
 * The ssh2 transport's refusal of an unknown host key, for a host known_hosts knows only through a
 * certificate authority: says so, and which transport would check its certificate. Else `e`.
 */
export function unknownKeyOfCertifiedHost(
  target: { label: string; knownHostsName: string; opensshNeeds: OpensshNeed[] },
  e: ConnectionError,
): ConnectionError {
  const ca = target.opensshNeeds.find((n) => n.keyword === '@cert-authority');
  if (e.kind !== 'unknown-host-key' || !ca) return e;
  const where = ca.line === null ? ca.file : `${ca.file}:${ca.line}`;
  return new ConnectionError(
    'unknown-host-key',
    target.label,
    `known_hosts knows ${target.knownHostsName} only through a certificate authority (@cert-authority at ${where}), and the ssh2 transport cannot check host certificates`,
    { hint: OPENSSH_TRANSPORT_HINT, cause: e, stage: e.stage },
  );
}

/** Where a host that needs OpenSSH was sent to ssh2 anyway: what to do instead. */
export const OPENSSH_TRANSPORT_HINT =
  "The OpenSSH transport would: leave the transport unset (it is then chosen for this host), or set transport: 'openssh' (--transport openssh).";
