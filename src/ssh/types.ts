// What a user says about an SSH target, and what fleetsh makes of it after reading ssh_config.

/**
 * How an unknown or changed host key is handled (OpenSSH's StrictHostKeyChecking). strict: the key
 * must be in known_hosts; accept-new: unknown keys are added; off: not checked.
 */
export type HostKeyPolicy = 'strict' | 'accept-new' | 'off';
/** Every HostKeyPolicy, for validation (the target options and the inventory check against it). */
export const HOST_KEY_POLICIES: readonly HostKeyPolicy[] = ['strict', 'accept-new', 'off'];

/** A duration: milliseconds as a number, or a string with units ('10s', '500ms', '2m', '1h30m'). */
export type Duration = number | string;

/** What users pass to `$.ssh(...)`. Every field but `host` is optional; ssh_config fills the rest. */
export interface SshTargetOptions {
  /** Host name, ssh_config alias or address; may also be `user@host:port`, `[::1]:2222` or `ssh://...`. */
  host: string;
  username?: string;
  /** Alias of `username`. */
  user?: string;
  port?: number;
  /** A path to a private key file, or the key text itself (detected by `-----BEGIN`). */
  privateKey?: string | Buffer;
  /** Decrypts `privateKey` (and is tried on encrypted keys from ssh_config and the default files). */
  passphrase?: string;
  password?: string;
  /** ssh-agent socket path; `false` disables the agent. Default: IdentityAgent, then SSH_AUTH_SOCK. */
  agent?: string | false;
  /** Jump hosts, first hop first: `'bastion'`, `'a,b'`, an options object, or an array of these. */
  jump?: string | SshTargetOptions | Array<string | SshTargetOptions>;
  /** Alias of `jump`. */
  via?: string | SshTargetOptions | Array<string | SshTargetOptions>;
  /** User known_hosts files (replace UserKnownHostsFile); the global files are still read. */
  knownHosts?: string | string[];
  hostKeyPolicy?: HostKeyPolicy;
  /** Default 10 s. */
  connectTimeout?: Duration;
  /** SSH protocol keepalive; default 15 s; 0 disables. */
  keepaliveInterval?: Duration;
  /** ssh_config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config; `false` reads none. */
  sshConfig?: string | false;
  identitiesOnly?: boolean;
  hostKeyAlias?: string;
  /** Channels to open at once on this connection (the server's MaxSessions, default 10). */
  maxSessions?: number;
  sudoPassword?: string;
}

/** A target as a string (`user@host:port`) or as options. */
export type SshTarget = string | SshTargetOptions;

/** One identity to try, in order, and where it came from. */
export interface IdentitySource {
  /** Absolute path of the key file; undefined for a key given inline in `privateKey`. */
  path: string | undefined;
  /** 'option': the privateKey option; 'config': IdentityFile; 'default': ~/.ssh/id_* that exist. */
  origin: 'option' | 'config' | 'default';
  /** For messages: the path and where it was named, e.g. `/root/.ssh/k (IdentityFile in /root/.ssh/config)`. */
  label: string;
  /** The key text of an inline `privateKey` (not enumerable, so it is never printed or serialised). */
  readonly key?: Buffer;
}

/** A target with every setting made concrete. Secrets are non-enumerable properties. */
/** A host key a server presented: its type (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...) and SHA256 fingerprint. */
export interface HostKeyInfo {
  type: string;
  /** As OpenSSH prints it: `SHA256:` and unpadded base64. */
  fingerprint: string;
}

export interface ResolvedTarget {
  /** The host as the user named it, with `:port` when a non-22 port was given explicitly. For messages. */
  label: string;
  /** The host name that ssh_config Host patterns were matched against (the alias). */
  host: string;
  /** The name or address to dial (HostName, lowercased). */
  hostname: string;
  port: number;
  user: string;
  /** Keys to try, in order: the privateKey option, IdentityFile entries, else default files that exist. */
  identities: IdentitySource[];
  identitiesOnly: boolean;
  /** ssh-agent socket, or undefined for no agent. */
  agent: string | undefined;
  readonly password?: string;
  readonly passphrase?: string;
  readonly sudoPassword?: string;
  /** Hops to go through, first first; hop k's own `jump` is hops 0..k-1. Empty for a direct connection. */
  jump: ResolvedTarget[];
  /** ProxyCommand from ssh_config (tokens expanded), when it rather than ProxyJump applies. */
  proxyCommand: string | undefined;
  /** Files consulted for host keys: user files then global files. */
  knownHostsFiles: string[];
  /** User files only; new keys are recorded in the first. */
  userKnownHostsFiles: string[];
  /** The name host keys are recorded under: HostKeyAlias, else HostName (as `[host]:port` if port != 22). */
  knownHostsName: string;
  hostKeyPolicy: HostKeyPolicy;
  hostKeyAlias: string | undefined;
  /** HashKnownHosts: record new host keys hashed. */
  hashKnownHosts: boolean;
  connectTimeoutMs: number;
  /** 0 disables keepalive. */
  keepaliveIntervalMs: number;
  /** ServerAliveCountMax: unanswered keepalives before the connection is declared dead. */
  keepaliveCountMax: number;
  maxSessions: number | undefined;
  /** Same key, same connection: user@host:port, identities, agent, host key settings, jump chain. No secrets. */
  poolKey: string;
  /** ssh_config files that were read (including Include), for messages. */
  configFiles: string[];
}
