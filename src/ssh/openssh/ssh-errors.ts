// What the system ssh said, as fleetsh's structured facts: the one place that reads ssh's words.
// ssh reports every failure of its own with exit status 255 and a line on stderr (OpenSSH 9.2's
// wording, matched loosely and case-blind); a ConnectionError with the same kinds, stages and hints
// as the ssh2 transport's (src/ssh/classify.ts) comes out, and the fleet decides on those fields.
// Also here: the master's process id from `ssh -O check`. No library reads ssh's messages into
// kinds (Ansible's and ClusterShell's ssh transports report exit 255 as one "unreachable").
import {
  ConnectionError,
  formatMs,
  type ConnectionErrorKind,
  type ConnectionStage,
} from '../../process/errors.js';
import { printable } from '../../process/printable.js';

export interface SshFailureContext {
  label: string;
  hostname: string;
  port: number;
  user: string;
  connectTimeoutMs: number;
}

interface Rule {
  test: RegExp;
  kind: ConnectionErrorKind;
  stage: ConnectionStage;
  hint?: string;
  retryable?: boolean;
}

// First match wins: a changed key's banner also says "Host key verification failed".
const RULES: Rule[] = [
  {
    test: /could not resolve hostname|name or service not known|temporary failure in name resolution/i,
    kind: 'dns',
    stage: 'resolve',
    hint: 'Check the name, HostName in ssh_config, and the DNS resolver.',
  },
  {
    test: /connection refused/i,
    kind: 'refused',
    stage: 'tcp',
    hint: 'Is sshd running, and is the port right?',
  },
  {
    test: /timed out|no route to host|network is unreachable|host is down/i,
    kind: 'connect-timeout',
    stage: 'banner',
    hint: 'Is the host up and the port reachable (firewall)? Raise connectTimeout for slow links.',
  },
  {
    test: /remote host identification has changed|host key for .* has changed|revoked/i,
    kind: 'changed-host-key',
    stage: 'kex',
    hint: 'If the host was reinstalled, remove its old line from known_hosts (ssh-keygen -R); otherwise someone may be in the middle.',
  },
  {
    test: /host key verification failed|no \S+ host key is known/i,
    kind: 'unknown-host-key',
    stage: 'kex',
    hint: "Add the host's key to known_hosts (ssh-keyscan, after checking its fingerprint), or use hostKeyPolicy 'accept-new'.",
  },
  {
    test: /permission denied|too many authentication failures|no more authentication methods/i,
    kind: 'auth',
    stage: 'auth',
  },
  {
    test: /bad configuration option|bad owner or permissions|can't open user config|no such file or directory.*config|unsupported option|line \d+:/i,
    kind: 'config',
    stage: 'resolve',
  },
  {
    // sshd past its MaxStartups closes before its host key is shown: worth another attempt.
    test: /kex_exchange_identification|connection reset by peer|broken pipe/i,
    kind: 'protocol',
    stage: 'banner',
    hint: 'The server may be refusing connections beyond its MaxStartups, or a firewall resets them.',
    retryable: true,
  },
];

/** The failure of an ssh that exited 255 before the command ran (a master that did not start). */
export function sshFailure(stderr: string, ctx: SshFailureContext): ConnectionError {
  const said = lastWords(stderr);
  const rule = RULES.find((r) => r.test.test(stderr));
  const kind = rule?.kind ?? 'protocol';
  const where = `${ctx.hostname}:${ctx.port}`;
  const detail =
    kind === 'auth'
      ? `${ctx.user}@${ctx.hostname} refused every identity ssh offered (ssh: ${said})`
      : kind === 'connect-timeout' && /timed out/i.test(stderr)
        ? `no SSH server answered on ${where} within ${formatMs(ctx.connectTimeoutMs)} (ssh: ${said})`
        : `ssh could not connect to ${where}: ${said || 'it exited with status 255 and said nothing'}`;
  return new ConnectionError(kind, ctx.label, detail, {
    hint: rule?.hint,
    stage: rule?.stage ?? 'kex',
    retryable: rule?.retryable,
  });
}

/** A command's connection (its master, or the client's socket to it) went away while it ran. */
export function lostConnection(label: string, stderr: string): ConnectionError {
  const said = lastWords(stderr);
  return new ConnectionError(
    'closed',
    label,
    `the connection was lost while the command was running${said ? ` (ssh: ${said})` : ''}; it may or may not have completed on the host`,
    { stage: 'connected' },
  );
}

/** The master's process id, from what `ssh -O check` says ("Master running (pid=1234)"). */
export function masterPid(said: string): number | undefined {
  const m = /\(pid=(\d+)\)/.exec(said);
  return m ? Number(m[1]) : undefined;
}

/** ssh's last meaningful line, printable and short (its warnings banner is skipped). */
function lastWords(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^@+$/.test(l) && !/^warning: permanently added/i.test(l));
  const line = lines.at(-1) ?? '';
  return printable(line.replace(/^ssh: /, '')).slice(0, 300);
}

/** Whether a client's last words say its connection went (the master, or the network under it). */
export function connectionLost(stderrTail: string): boolean {
  const line = stderrTail.trimEnd().split(/\r?\n/).at(-1) ?? '';
  return /mux_client|control socket|closed by remote host|connection reset|broken pipe|client_loop: send disconnect|timeout, server .* not responding/i.test(
    line,
  );
}
