// The system ssh's command line for a target: what fleetsh must say and nothing more. ssh reads the
// user's ssh_config itself (certificates, Match exec, GSSAPI, PKCS#11, KnownHostsCommand: all of
// OpenSSH); fleetsh adds the config file the user named, BatchMode (a run never prompts), the
// user, port, key, agent, jump hosts and known_hosts files given as options, its connect timeout and
// keepalive (as resolved, so both transports wait alike), and the host key policy as the ssh2
// transport means it. A password or a key's passphrase would need an askpass helper: refused.
// No library builds these: the options are fleetsh's target options, mapped one by one.
import { UsageError } from '../../process/errors.js';
import { parseTargetString, validateTargetOptions, type ExplicitSettings } from '../target-options.js';
import type { ResolvedTarget, SshTarget, SshTargetOptions } from '../types.js';

/** Where `~` and relative paths in the target's options are read from (the resolve context's). */
export interface PathContext {
  homedir: string;
  cwd: string;
}

/**
 * Options that reach every ssh of the target (the master and each command's client), before the
 * host. Throws a UsageError for what this transport cannot take.
 */
export function connectionArgs(raw: SshTarget, target: ResolvedTarget, where: PathContext): string[] {
  const x = validateTargetOptions(raw, where.homedir, where.cwd);
  refuseSecrets(x, target.label);
  const args: string[] = [];
  const o = (setting: string) => args.push('-o', setting);
  if (x.sshConfig === false) args.push('-F', '/dev/null');
  else if (x.sshConfig !== undefined) args.push('-F', x.sshConfig);
  o('BatchMode=yes');
  if (x.user !== undefined) args.push('-l', shellSafeUser(x.user, target.label));
  if (x.port !== undefined) args.push('-p', String(x.port));
  // Not `-i`: ssh checks -i's file as written, then reads it with its % tokens expanded, so a
  // path with a % could not be given there at all.
  if (x.privateKey && 'path' in x.privateKey)
    o(`IdentityFile=${configWord(x.privateKey.path, 'privateKey', target.label)}`);
  if (x.agent === false) o('IdentityAgent=none');
  else if (x.agent !== undefined) o(`IdentityAgent=${configWord(x.agent, 'agent', target.label)}`);
  // -A / forwardAgent over ssh_config's ForwardAgent, as over ssh2.
  if (x.forwardAgent === true || x.forwardAgent === false) o(`ForwardAgent=${x.forwardAgent ? 'yes' : 'no'}`);
  else if (x.forwardAgent !== undefined)
    o(`ForwardAgent=${configWord(x.forwardAgent, 'forwardAgent', target.label)}`);
  if (x.identitiesOnly !== undefined) o(`IdentitiesOnly=${x.identitiesOnly ? 'yes' : 'no'}`);
  // Not a path (no % tokens), but split as a config line as well: `a"b` would be "invalid quotes".
  if (x.hostKeyAlias !== undefined)
    o(`HostKeyAlias=${configWord(x.hostKeyAlias, 'hostKeyAlias', target.label, false)}`);
  if (x.jump !== undefined) args.push('-J', x.jump.length ? jumpSpec(x.jump, target.label) : 'none');
  // ssh keeps the first value of an option: 'off' (below) names /dev/null instead.
  if (x.knownHosts !== undefined && x.hostKeyPolicy !== 'off')
    o(`UserKnownHostsFile=${x.knownHosts.map((f) => configWord(f, 'knownHosts', target.label)).join(' ')}`);
  if (x.hostKeyPolicy === 'strict') o('StrictHostKeyChecking=yes');
  else if (x.hostKeyPolicy === 'accept-new') o('StrictHostKeyChecking=accept-new');
  // Not checked and nothing recorded, as the ssh2 transport's 'off'.
  else if (x.hostKeyPolicy === 'off') (o('StrictHostKeyChecking=no'), o('UserKnownHostsFile=/dev/null'));
  o(`ConnectTimeout=${Math.max(1, Math.ceil(target.connectTimeoutMs / 1000))}`);
  o(`ServerAliveInterval=${Math.ceil(target.keepaliveIntervalMs / 1000)}`);
  o(`ServerAliveCountMax=${target.keepaliveCountMax}`);
  // The ssh2 transport forwards nothing; a LocalForward in ssh_config would be asked for again by
  // every command's client (and warn on its stderr when the port is taken).
  o('ClearAllForwardings=yes');
  return args;
}

/** The master: authenticates, then serves its socket; it exits once unused for `idleSeconds`. */
export function masterArgs(common: string[], socket: string, idleSeconds: number, host: string): string[] {
  return [
    ...common,
    '-S',
    socket,
    '-o',
    'ControlMaster=yes',
    '-o',
    `ControlPersist=${Math.max(1, idleSeconds)}`,
    '-N',
    '--',
    host,
  ];
}

/** A question to a running master (`check`, `exit`). */
export function controlArgs(common: string[], socket: string, command: string, host: string): string[] {
  return [...common, '-S', socket, '-o', 'ControlMaster=no', '-O', command, '--', host];
}

/**
 * One command over the master. LogLevel ERROR: ssh says "Shared connection to … closed." at INFO
 * when a terminal was asked for, which would land in the command's output. No escape character:
 * input is bytes, never `~.`. RemoteCommand none: a RemoteCommand in ssh_config would refuse ours.
 */
export function commandArgs(
  common: string[],
  socket: string,
  host: string,
  command: string,
  pty: boolean,
): string[] {
  return [
    ...common,
    '-S',
    socket,
    '-o',
    'ControlMaster=no',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'EscapeChar=none',
    '-o',
    'RemoteCommand=none',
    pty ? '-tt' : '-T',
    '--',
    host,
    command,
  ];
}

function refuseSecrets(x: ExplicitSettings, label: string): void {
  const refuse = (what: string, instead: string) =>
    new UsageError(
      `${label}: the OpenSSH transport cannot take ${what}: the system ssh would have to ask for it on a terminal. ${instead}, or use transport 'ssh2' for this host.`,
      { host: label },
    );
  if (x.password !== undefined)
    throw refuse('a password', 'Log in with a key or certificate (ssh-agent, IdentityFile)');
  if (x.passphrase !== undefined) throw refuse("a key's passphrase", 'Load the key into ssh-agent (ssh-add)');
  if (x.privateKey && 'key' in x.privateKey)
    throw refuse("a key's text (privateKey given inline)", 'Give privateKey as a key file path');
}

/**
 * A path as one word of an `-o` option, read back by ssh as written: ssh splits the value as a
 * config line (quotes, backslash escapes, `#` starts a comment), then expands `~`, `%` tokens and
 * `${VAR}` in IdentityFile, IdentityAgent, ForwardAgent and UserKnownHostsFile. So the word is
 * double-quoted with `\` and `"` escaped, and `%` doubled (`tokens`: the option expands them);
 * `${` (which has no escape) and line breaks are refused.
 */
export function configWord(value: string, option: string, label: string, tokens = true): string {
  const refuse = (what: string) =>
    new UsageError(
      `${label}: option ${option}: the OpenSSH transport cannot pass a path with ${what} to ssh (${JSON.stringify(value)}): rename the file, or use transport 'ssh2' for this host`,
      { host: label },
    );
  if (/[\r\n\0]/.test(value)) throw refuse('a line break');
  if (value.includes('${')) throw refuse("'${', which ssh would read as an environment variable");
  const word = tokens ? value.replace(/%/g, '%%') : value;
  return /[\s#'"\\]/.test(word) ? `"${word.replace(/[\\"]/g, (c) => `\\${c}`)}"` : word;
}

/**
 * A user name the system ssh may put in a shell command line: a jump host's user goes into the
 * ProxyCommand ssh builds for -J, and %r in an ssh_config ProxyCommand or Match exec is the
 * target's. OpenSSH 9.6 refuses these characters itself (CVE-2023-51385); older ones run them.
 */
function shellSafeUser(user: string, label: string): string {
  if (/['`";&<>|(){}\\]|\s-/.test(user) || user.startsWith('-'))
    throw new UsageError(
      `${label}: the OpenSSH transport cannot log in as ${JSON.stringify(user)}: ssh may hand a user name to a shell, and this one has a character the shell would read (' \` " ; & < > | ( ) { } \\). Use transport 'ssh2' for this host.`,
      { host: label },
    );
  return user;
}

/** Jump hosts as `-J` takes them: `user@host:port,...`; an options object may say no more than that. */
function jumpSpec(hops: Array<string | SshTargetOptions>, label: string): string {
  return hops
    .map((hop) => {
      if (typeof hop === 'string') {
        const user = parseTargetString(hop, label).user;
        if (user !== undefined) shellSafeUser(user, label);
        return hop;
      }
      const extra = Object.keys(hop).filter((k) => !['host', 'user', 'username', 'port'].includes(k));
      if (extra.length)
        throw new UsageError(
          `${label}: the OpenSSH transport takes a jump host as user@host:port; give its other settings (${extra.join(', ')}) in ssh_config`,
          { host: label },
        );
      const user = hop.username ?? hop.user;
      if (user !== undefined) shellSafeUser(user, label);
      const host = hop.port !== undefined && hop.host.includes(':') ? `[${hop.host}]` : hop.host;
      return `${user !== undefined ? `${user}@` : ''}${host}${hop.port !== undefined ? `:${hop.port}` : ''}`;
    })
    .join(',');
}
