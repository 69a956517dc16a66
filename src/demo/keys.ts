// Keys for the demo fleet, generated in-process with ssh2 (no ssh-keygen needed): one ed25519 host key
// per host and one client key, plus the known_hosts and ssh_config files that let any client (ssh2 or
// OpenSSH) connect with strict host key checking.
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey, PublicKeyAuthContext } from 'ssh2';

const { utils } = ssh2;

export interface KeyPair {
  /** OpenSSH private key text (unencrypted). */
  privateKey: string;
  /** One-line public key, `ssh-ed25519 AAAA... comment`. */
  publicKey: string;
  parsed: ParsedKey;
}

export function generateKeyPair(comment: string): KeyPair {
  // ssh2 1.17's keygen writes a 31-byte ed25519 key when the public key starts with a zero byte
  // (about 1 key in 300), which nothing can parse: generate again until both halves parse.
  for (let attempt = 0; ; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    const parsed = utils.parseKey(pair.public);
    const priv = utils.parseKey(pair.private);
    if (!(parsed instanceof Error) && !(priv instanceof Error)) {
      return { privateKey: pair.private, publicKey: pair.public, parsed };
    }
    if (attempt >= 20) throw parsed instanceof Error ? parsed : priv;
  }
}

/** The `type base64` part of a public key line, without its comment. */
export function publicKeyBody(publicKey: string): string {
  return publicKey.trim().split(/\s+/).slice(0, 2).join(' ');
}

/** True when a publickey authentication attempt uses `allowed` (and, if signed, signs correctly). */
export function publicKeyMatches(ctx: PublicKeyAuthContext, allowed: ParsedKey): boolean {
  const want = allowed.getPublicSSH();
  if (ctx.key.algo !== allowed.type) return false;
  if (ctx.key.data.length !== want.length || !timingSafeEqual(ctx.key.data, want)) return false;
  if (ctx.signature === undefined) return true; // The client only asks whether this key would do.
  if (ctx.blob === undefined) return false;
  return allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
}

/** `[127.0.0.1]:2201` for non-standard ports, as OpenSSH writes known_hosts entries. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

export interface ConfigEntry {
  name: string;
  address: string;
  port: number;
}

function quote(path: string): string {
  return /[\s"]/.test(path) ? `"${path.replace(/"/g, '')}"` : path;
}

/** An ssh_config with one `Host` block per host; every path is absolute (no `~`). */
export function renderSshConfig(
  entries: ConfigEntry[],
  opts: { user: string; identityFile: string; knownHostsFile: string; connectTimeout: number },
): string {
  const blocks = entries.map((e) =>
    [
      `Host ${e.name}`,
      `  HostName ${e.address}`,
      `  Port ${e.port}`,
      `  User ${opts.user}`,
      `  IdentityFile ${quote(opts.identityFile)}`,
      `  IdentitiesOnly yes`,
      `  UserKnownHostsFile ${quote(opts.knownHostsFile)}`,
      `  GlobalKnownHostsFile /dev/null`,
      `  StrictHostKeyChecking yes`,
      `  ConnectTimeout ${opts.connectTimeout}`,
      `  PasswordAuthentication no`,
      `  KbdInteractiveAuthentication no`,
      '',
    ].join('\n'),
  );
  return `# fleetsh demo fleet: generated, removed when the demo stops.\n\n${blocks.join('\n')}`;
}
