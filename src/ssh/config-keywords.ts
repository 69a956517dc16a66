// Every ssh_config keyword, by what fleetsh's ssh2 transport does with it: honoured (resolve.ts
// reads it), ignored quietly because it changes nothing about the connection, or not honoured, in
// which case the resolved target lists it (`unhonoured`) and the pool warns once per keyword.
// docs/ssh.md says the same (a test checks it names every keyword here). No package says which
// keywords a client other than ssh honours: OpenSSH's own list is its readconf.c.
import { matchPattern } from './ssh-config.js';
import type { ComputedSshConfig, ConfigEntry } from './ssh-config.js';
import type { UnhonouredSetting } from './types.js';

/** Keywords resolve.ts reads and honours (wholly, or as docs/ssh.md says). */
export const HONOURED_KEYWORDS: readonly string[] = [
  'Host',
  'Match',
  'Include',
  'HostName',
  'User',
  'Port',
  'IdentityFile',
  'IdentitiesOnly',
  'IdentityAgent',
  'ProxyJump',
  'ProxyCommand',
  'UserKnownHostsFile',
  'GlobalKnownHostsFile',
  'StrictHostKeyChecking',
  'HostKeyAlias',
  'HashKnownHosts',
  'ConnectTimeout',
  'ServerAliveInterval',
  'ServerAliveCountMax',
  'ForwardAgent',
  'Ciphers',
  'KexAlgorithms',
  'HostKeyAlgorithms',
  'MACs',
  'BindAddress',
  'ConnectionAttempts',
  'SetEnv',
  'SendEnv',
  'RequestTTY',
  'Compression',
];

/** Keywords that change nothing about a connection fleetsh makes, ignored without a warning, and why. */
export const QUIET_KEYWORDS: Readonly<Record<string, string>> = {
  AddKeysToAgent: 'fleetsh never adds keys to the agent',
  BatchMode: 'fleetsh never prompts',
  NumberOfPasswordPrompts: 'fleetsh never prompts',
  KbdInteractiveDevices: 'fleetsh answers keyboard-interactive with the password option only',
  LogLevel: "fleetsh's messages are its own",
  LogVerbose: "fleetsh's messages are its own",
  SyslogFacility: "fleetsh's messages are its own",
  VisualHostKey: 'display only',
  FingerprintHash: 'display only (fleetsh prints SHA256 fingerprints)',
  EscapeChar: 'interactive sessions only',
  EnableEscapeCommandline: 'interactive sessions only',
  ObscureKeystrokeTiming: 'interactive sessions only',
  UseKeychain: 'macOS keychain prompts only',
  IgnoreUnknown: 'fleetsh warns about unknown keywords unless this names them',
  XAuthLocation: 'X11 only',
  ForwardX11Timeout: 'X11 only',
  Protocol: 'obsolete',
  UsePrivilegedPort: 'obsolete',
  UseRoaming: 'obsolete',
  Cipher: 'obsolete (SSH protocol 1)',
  CompressionLevel: 'obsolete (SSH protocol 1)',
  RSAAuthentication: 'obsolete (SSH protocol 1)',
  RhostsRSAAuthentication: 'obsolete (SSH protocol 1)',
  Tag: 'read by Match tagged only',
  UpdateHostKeys: 'fleetsh records host keys only as StrictHostKeyChecking says',
  IPQoS: 'packet marking only',
  TCPKeepAlive: "fleetsh's SSH keepalive (ServerAliveInterval) finds a dead connection",
  StreamLocalBindMask: 'forwarding only (fleetsh sets up none from ssh_config)',
  StreamLocalBindUnlink: 'forwarding only (fleetsh sets up none from ssh_config)',
  GatewayPorts: 'forwarding only (fleetsh sets up none from ssh_config)',
  ExitOnForwardFailure: 'forwarding only (fleetsh sets up none from ssh_config)',
  ClearAllForwardings: 'fleetsh sets up no forwarding from ssh_config',
  PermitRemoteOpen: 'remote forwarding only',
  LocalCommand: 'run only with PermitLocalCommand yes (which is warned about)',
  StdinNull: 'fleetsh gives each command its own input',
  ForkAfterAuthentication: 'fleetsh runs in the foreground',
  CanonicalDomains: 'read only with CanonicalizeHostname (which is warned about)',
  CanonicalizeFallbackLocal: 'read only with CanonicalizeHostname (which is warned about)',
  CanonicalizeMaxDots: 'read only with CanonicalizeHostname (which is warned about)',
  CanonicalizePermittedCNAMEs: 'read only with CanonicalizeHostname (which is warned about)',
  CASignatureAlgorithms: 'certificates only (CertificateFile is warned about)',
  SecurityKeyProvider: 'security keys only (fleetsh skips sk- keys, saying so)',
  GSSAPIClientIdentity: 'read only with GSSAPIAuthentication yes (which is warned about)',
  GSSAPIServerIdentity: 'read only with GSSAPIAuthentication yes (which is warned about)',
  GSSAPIRenewalForcesRekey: 'read only with GSSAPIAuthentication yes (which is warned about)',
  GSSAPITrustDns: 'read only with GSSAPIAuthentication yes (which is warned about)',
  GSSAPIKeyExchange: 'read only with GSSAPIAuthentication yes (which is warned about)',
  GSSAPIKexAlgorithms: 'read only with GSSAPIAuthentication yes (which is warned about)',
  HostbasedAcceptedAlgorithms: 'read only with HostbasedAuthentication yes (which is warned about)',
  HostbasedKeyTypes: 'read only with HostbasedAuthentication yes (which is warned about)',
};

interface Unhonoured {
  /** What fleetsh does instead. */
  instead: string;
  /** The OpenSSH transport would honour it. */
  openssh?: boolean;
  /** Values that ask for what fleetsh does anyway (OpenSSH's default, mostly): no warning. */
  quietWhen?: readonly string[];
  /** Only with Kerberos credentials on this machine does it change anything (see unhonouredSettings). */
  kerberos?: boolean;
}

/** Keywords fleetsh's ssh2 transport does not honour: a warning each, saying what it does instead. */
export const UNHONOURED_KEYWORDS: Readonly<Record<string, Unhonoured>> = {
  CertificateFile: { instead: 'it logs in without the certificate', openssh: true },
  PKCS11Provider: { instead: 'it offers no PKCS#11 key', openssh: true, quietWhen: ['none'] },
  GSSAPIAuthentication: {
    instead: 'it does not try GSSAPI (Kerberos)',
    openssh: true,
    quietWhen: ['no'],
    kerberos: true,
  },
  GSSAPIDelegateCredentials: {
    instead: 'it delegates no credentials',
    openssh: true,
    quietWhen: ['no'],
    kerberos: true,
  },
  KnownHostsCommand: {
    instead: 'it checks host keys against the known_hosts files only',
    openssh: true,
    quietWhen: ['none'],
  },
  ControlMaster: {
    instead:
      'it shares one connection per host within a run through its own pool (and across runs through its agent)',
    openssh: true,
    quietWhen: ['no'],
  },
  ControlPath: {
    instead: 'it uses no control socket',
    openssh: true,
    quietWhen: ['none'],
  },
  ControlPersist: {
    instead: 'idle connections close after the pool idle timeout',
    openssh: true,
    quietWhen: ['no'],
  },
  CanonicalizeHostname: {
    instead: 'it dials the host name as written',
    openssh: true,
    quietWhen: ['no'],
  },
  HostbasedAuthentication: {
    instead: 'it does not try host-based authentication',
    openssh: true,
    quietWhen: ['no'],
  },
  PreferredAuthentications: {
    instead: 'it tries the agent, the key files, then a password option',
    openssh: true,
  },
  PubkeyAuthentication: {
    instead: 'it still offers keys',
    openssh: true,
    quietWhen: ['yes', 'unbound', 'host-bound'],
  },
  PasswordAuthentication: {
    instead: 'a password option is still tried',
    openssh: true,
    quietWhen: ['yes'],
  },
  KbdInteractiveAuthentication: {
    instead: 'a password option is still tried through keyboard-interactive',
    openssh: true,
    quietWhen: ['yes'],
  },
  ChallengeResponseAuthentication: {
    instead: 'a password option is still tried through keyboard-interactive',
    openssh: true,
    quietWhen: ['yes'],
  },
  PubkeyAcceptedAlgorithms: { instead: 'it offers every key type it can', openssh: true },
  PubkeyAcceptedKeyTypes: { instead: 'it offers every key type it can', openssh: true },
  RequiredRSASize: { instead: 'it accepts RSA keys of any size ssh2 takes', openssh: true },
  RevokedHostKeys: {
    instead: 'only @revoked lines of known_hosts revoke host keys',
    openssh: true,
    quietWhen: ['none'],
  },
  VerifyHostKeyDNS: { instead: 'it looks up no SSHFP records', openssh: true, quietWhen: ['no'] },
  CheckHostIP: {
    instead: 'it checks the host key under the host name only',
    openssh: true,
    quietWhen: ['no'],
  },
  NoHostAuthenticationForLocalhost: {
    instead: 'it checks localhost host keys too',
    openssh: true,
    quietWhen: ['no'],
  },
  AddressFamily: {
    instead: 'it dials the addresses the resolver returns',
    openssh: true,
    quietWhen: ['any'],
  },
  BindInterface: { instead: 'it binds to no interface', openssh: true },
  RekeyLimit: { instead: "it rekeys at ssh2's defaults", openssh: true, quietWhen: ['default none'] },
  ProxyUseFdpass: { instead: 'it reads the ProxyCommand stream itself', openssh: true, quietWhen: ['no'] },
  EnableSSHKeysign: { instead: 'it does not use ssh-keysign', openssh: true, quietWhen: ['no'] },
  ChannelTimeout: { instead: 'channels have no idle timeout', openssh: true, quietWhen: ['none'] },
  ForwardX11: { instead: 'it forwards no X11', openssh: true, quietWhen: ['no'] },
  ForwardX11Trusted: { instead: 'it forwards no X11', openssh: true, quietWhen: ['no'] },
  LocalForward: { instead: 'it sets up no forwarding from ssh_config (use ssh.tunnel())' },
  RemoteForward: { instead: 'it sets up no forwarding from ssh_config' },
  DynamicForward: { instead: 'it sets up no forwarding from ssh_config' },
  Tunnel: { instead: 'it opens no tun device', openssh: true, quietWhen: ['no'] },
  TunnelDevice: { instead: 'it opens no tun device', openssh: true, quietWhen: ['any:any'] },
  PermitLocalCommand: { instead: 'LocalCommand is not run', openssh: true, quietWhen: ['no'] },
  RemoteCommand: { instead: 'it runs the commands it was given', quietWhen: ['none'] },
  SessionType: { instead: 'it runs the commands it was given', quietWhen: ['default'] },
};

const byLowercase = new Map<string, { name: string; kind: 'honoured' | 'quiet' | Unhonoured }>();
for (const name of HONOURED_KEYWORDS) byLowercase.set(name.toLowerCase(), { name, kind: 'honoured' });
for (const name of Object.keys(QUIET_KEYWORDS)) byLowercase.set(name.toLowerCase(), { name, kind: 'quiet' });
for (const [name, u] of Object.entries(UNHONOURED_KEYWORDS))
  byLowercase.set(name.toLowerCase(), { name, kind: u });

/**
 * The keywords of a computed config that fleetsh's ssh2 transport does not honour, as first obtained.
 * `kerberos`: whether this machine holds Kerberos credentials. Without them ssh's GSSAPI attempt
 * fails at once and it goes on to the next method, so `GSSAPIAuthentication yes` (in Debian's own
 * /etc/ssh/ssh_config) changes nothing and is not warned about.
 */
export function unhonouredSettings(config: ComputedSshConfig, kerberos: boolean): UnhonouredSetting[] {
  const out: UnhonouredSetting[] = [];
  const ignoreUnknown = config.values.get('ignoreunknown')?.args.join(',');
  for (const [keyword, entry] of config.values) {
    const value = entry.args.join(' ');
    const known = byLowercase.get(keyword);
    if (known?.kind === 'honoured' || known?.kind === 'quiet') continue;
    if (!known) {
      if (
        ignoreUnknown !== undefined &&
        ignoreUnknown.split(',').some((p) => matchPattern(keyword, p.toLowerCase()))
      )
        continue;
      out.push(setting(keyword, entry, 'it ignores a keyword it does not know', false));
      continue;
    }
    if (known.kind.quietWhen?.includes(value.toLowerCase())) continue;
    if (known.kind.kerberos && !kerberos) continue;
    out.push(setting(known.name, entry, known.kind.instead, known.kind.openssh ?? false));
  }
  for (const entry of config.matchExec)
    out.push(
      setting('Match exec', entry, 'it does not run the command: the block counts as not matching', true),
    );
  return out;
}

function setting(keyword: string, entry: ConfigEntry, instead: string, openssh: boolean): UnhonouredSetting {
  const text = entry.args.join(' ');
  return {
    keyword,
    file: entry.file,
    line: entry.line,
    value: text.length > 80 ? `${text.slice(0, 77)}...` : text,
    instead,
    openssh,
  };
}

/** The one text of the warning about a setting fleetsh does not honour. */
export function unhonouredWarning(u: UnhonouredSetting): string {
  const what = u.keyword === 'Match exec' ? `Match ${u.value}` : `${u.keyword} ${u.value}`;
  const transport = u.openssh
    ? '; --transport openssh (transport: openssh in the inventory) would honour it'
    : '';
  return `ssh_config ${u.file}:${u.line}: ${what.trim()}: not honoured by the ssh2 transport, ${u.instead}${transport}`;
}
