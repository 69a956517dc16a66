// What a user says about an SSH target, and what fleetsh makes of it after reading ssh_config.

/**
 * How an unknown or changed host key is handled (OpenSSH's StrictHostKeyChecking). strict: the key
 * must be in known_hosts; accept-new: unknown keys are added; off: not checked.
 */
export type HostKeyPolicy = 'strict' | 'accept-new' | 'off';
/** Every HostKeyPolicy, for validation (the target options and the inventory check against it). */
export const HOST_KEY_POLICIES: readonly HostKeyPolicy[] = ['strict', 'accept-new', 'off'];

/**
 * What carries a target's connections: `ssh2` (fleetsh's own SSH client, from npm) or `openssh` (the
 * system `ssh` binary, one ControlMaster per host: certificates, security keys, GSSAPI, PKCS#11 and
 * every ssh_config keyword, read by ssh itself). See docs/ssh.md.
 */
export type SshTransport = 'ssh2' | 'openssh';
/** Every SshTransport, for validation (the target options, the inventory and the CLI check against it). */
export const SSH_TRANSPORTS: readonly SshTransport[] = ['ssh2', 'openssh'];

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
  /** Agent forwarding (`ssh -A`): true forwards the agent used to log in; a path, that socket. Default: ForwardAgent. */
  forwardAgent?: boolean | string;
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
  /**
   * Run this target's commands on one long-lived shell per connection instead of an exec request
   * each (from its second command on); default: the pool's `persistentShell` (true). See docs/ssh.md.
   */
  persistentShell?: boolean;
  /** What carries the connection: 'ssh2' (the default) or 'openssh' (the system ssh binary). */
  transport?: SshTransport;
}

/** ssh2's name for each algorithm list (ssh_config's Ciphers, KexAlgorithms, HostKeyAlgorithms, MACs). */
export type AlgorithmList = 'cipher' | 'kex' | 'serverHostKey' | 'hmac';

/** An ssh_config keyword the ssh2 transport does not honour, where it applies to a host (config-keywords.ts). */
export interface UnhonouredSetting {
  /** As OpenSSH spells it (`CertificateFile`); a keyword unknown to fleetsh as lowercased; or `Match exec`. */
  keyword: string;
  file: string;
  line: number;
  /** Its value as written (cut to 80 characters). */
  value: string;
  /** What fleetsh does instead, as a clause: "it logs in without the certificate". */
  instead: string;
  /** Whether the OpenSSH transport (the system `ssh`) would honour it. */
  openssh: boolean;
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

/**
 * Something a host's ssh_config asks for that only the OpenSSH transport can do (ssh2 has no user
 * certificates, security keys, GSSAPI, Match exec, KnownHostsCommand or PKCS#11), and where it says so.
 */
export interface OpensshNeed {
  /** As OpenSSH spells it: CertificateFile, IdentityFile, GSSAPIAuthentication, Match exec, KnownHostsCommand, PKCS11Provider. */
  keyword: string;
  /** The value: a file (expanded), a command, `yes`. */
  value: string;
  /** What the ssh2 transport lacks, in words: `a user certificate`, `a FIDO security key (...)`. */
  feature: string;
  /** The ssh_config file that says it (for the privateKey option or a default key: the key's label). */
  file: string;
  /** Its line in that file, when known. */
  line: number | null;
}

/** The transport a target's connections take, and why (src/ssh/transport.ts decides). */
export interface TransportChoice {
  transport: SshTransport;
  /**
   * `option`: the target's `transport` option (an inventory setting, `--transport`); `ssh-config`:
   * what its ssh_config needs (`needs`) chose OpenSSH; `default`: ssh2, nothing asked otherwise.
   */
  by: 'option' | 'ssh-config' | 'default';
  /** What the host's ssh_config needs that only OpenSSH does, each with its file and line; also when the option chose ssh2. */
  needs: OpensshNeed[];
}

/** A host key a server presented: its type (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...) and SHA256 fingerprint. */
export interface HostKeyInfo {
  type: string;
  /** As OpenSSH prints it: `SHA256:` and unpadded base64. */
  fingerprint: string;
}

/** A target with every setting made concrete. Secrets are non-enumerable properties. */
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
  /** The target's persistentShell option; undefined: the pool's. */
  persistentShell: boolean | undefined;
  /** ssh_config's Ciphers, KexAlgorithms, HostKeyAlgorithms and MACs, assembled; a list not set is the default. */
  algorithms: Partial<Record<AlgorithmList, string[]>>;
  /** HostKeyAlgorithms as a list or with `^`: offered as given, not reordered by known_hosts (as OpenSSH). */
  hostKeyAlgorithmsAsGiven: boolean;
  /** The agent socket forwarded to the host (ForwardAgent, forwardAgent), or undefined. */
  forwardAgent: string | undefined;
  /** BindAddress: the local address connections are made from. */
  bindAddress: string | undefined;
  /** ConnectionAttempts: TCP connects tried, 1 s apart (default 1). */
  connectionAttempts: number;
  /** SendEnv (from this machine's environment) then SetEnv: sent as env requests, which sshd may refuse. Not enumerable. */
  readonly env: Readonly<Record<string, string>>;
  /** RequestTTY: true (yes, force) or false (no) when a command does not say; undefined (auto) is none. */
  requestTty: boolean | undefined;
  /** Compression yes: zlib offered first (zlib@openssh.com, after login), as ssh -C does. */
  compression: boolean;
  /** ssh_config keywords that apply to this host and that this transport does not honour (warned once each). */
  unhonoured: UnhonouredSetting[];
  /** The target's transport option; undefined: not given (chooseTransport decides). */
  transport: SshTransport | undefined;
  /** Same key, same connection: user@host:port, identities, agent, host key settings, jump chain. No secrets. */
  poolKey: string;
  /** ssh_config files that were read (including Include), for messages. */
  configFiles: string[];
  /** What this host's config asks for that only the OpenSSH transport can do; empty for most hosts. */
  opensshNeeds: OpensshNeed[];
}

/** A host as it would be dialled, for a dry run: the name it was given, the user, address and port. */
export interface PlannedEndpoint {
  /** The host as named (an alias, with `:port` when a port was given). */
  label: string;
  user: string;
  /** The name or address dialled (HostName). */
  hostname: string;
  port: number;
}

/**
 * What a dry run found out about a host key: the key the server presented was `known` (in
 * known_hosts), `unknown`, `changed` (another key is recorded for the name) or `revoked`; or no key
 * was seen, because the host is `unreachable` or was `not-checked` (the reason says why).
 */
export type HostKeyStatus = 'known' | 'unknown' | 'changed' | 'revoked' | 'unreachable' | 'not-checked';

/**
 * What a run would do with the key the server presented: `connect` (known), `record` it first
 * (unknown, hostKeyPolicy 'accept-new'), `refuse` it, or connect `unverified` (hostKeyPolicy 'off').
 */
export type HostKeyVerdict = 'connect' | 'record' | 'refuse' | 'unverified';

export interface HostKeyPlan {
  status: HostKeyStatus;
  /** Null when no key was seen. */
  verdict: HostKeyVerdict | null;
  policy: HostKeyPolicy;
  /** The name looked up in known_hosts: HostKeyAlias, else HostName (as `[host]:port` off port 22). */
  name: string;
  /** The key the server presented, when it was seen. */
  key: HostKeyInfo | null;
  /** The known_hosts entry that holds this key (known, revoked) or another one for the name (changed). */
  entry: { file: string; line: number; type: string } | null;
  /** Why no key was seen: the connection error's kind (`refused`, `connect-timeout`, ...), else null. */
  kind: string | null;
  /** Why no key was seen: the connection error's message, or a sentence for `not-checked`; else null. */
  reason: string | null;
}

/** How the host would be authenticated, in OpenSSH's order. Never a key's contents or a secret. */
export interface AuthPlan {
  /** The ssh-agent socket, offered first; null for none. */
  agent: string | null;
  /** IdentitiesOnly: the agent offers only the keys below. */
  identitiesOnly: boolean;
  /** Key files offered after the agent, in order: where each was named, its type and public fingerprint. */
  keys: Array<{ label: string; type: string; fingerprint: string }>;
  /** Key files left out, and why (missing, encrypted and no passphrase given). */
  skipped: Array<{ label: string; reason: string }>;
  /** A password is tried last (password, then keyboard-interactive). */
  password: boolean;
  /** Why authentication could not start at all (an unusable privateKey option, nothing to offer), else null. */
  error: string | null;
}

/** Everything a connection to a target would use, for a dry run (`ssh.inspect()`). */
export interface TargetPlan extends PlannedEndpoint {
  /** What would carry the connection (chooseTransport). Over 'openssh' the system ssh reads ssh_config itself. */
  transport: SshTransport;
  /**
   * Why: the `transport` option, what the host's ssh_config needs that only OpenSSH does (each need
   * with its file and line), or the default; `needs` is listed also when the option chose ssh2.
   */
  transportReason: Pick<TransportChoice, 'by' | 'needs'>;
  /** Jump hosts, first hop first, each with what the dry run found out about its host key. */
  jump: Array<PlannedEndpoint & { hostKey: HostKeyPlan }>;
  /** The ProxyCommand that would carry the connection (tokens expanded), or null. */
  proxyCommand: string | null;
  auth: AuthPlan;
  hostKey: HostKeyPlan;
  /** The ssh_config files read. */
  configFiles: string[];
  /** The known_hosts files consulted, user files first. */
  knownHostsFiles: string[];
  /**
   * Every host the dry run dialled for this target, and how far it went: `key-exchange` (hung up
   * before logging in) or `login` (a jump host, to reach the next hop through it).
   */
  contacted: Array<{ host: string; how: 'key-exchange' | 'login' }>;
}
