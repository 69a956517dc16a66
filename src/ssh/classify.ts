// Turning what ssh2 and the socket report into a ConnectionError with a kind, a message that names
// the host and says what happened in words, and a hint when there is something to do.
import { ConnectionError, FleetshError, formatMs } from '../process/errors.js';

export interface ClassifyContext {
  /** The host as the user named it (ResolvedTarget.label). */
  label: string;
  hostname: string;
  port: number;
  user: string;
  connectTimeoutMs: number;
  /** Through which jump hosts, for messages. */
  via?: string[];
  /** Whether the SSH banner (server version) was seen. */
  sawBanner?: boolean;
  /** Whether the server sent an SSH version line (for a timeout's wording only: see isEarlyDrop). */
  versionSeen?: boolean;
  /** Whether the connection was authenticated and ready before the error. */
  wasReady?: boolean;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

export function classifyError(err: unknown, ctx: ClassifyContext): ConnectionError {
  if (err instanceof ConnectionError) return err;
  if (err instanceof FleetshError) {
    return new ConnectionError('protocol', ctx.label, err.message, { cause: err });
  }
  const e = err as NodeJS.ErrnoException & { level?: string };
  const code = e?.code;
  const message = String(e?.message ?? err);
  const where =
    `${ctx.hostname}:${ctx.port}` + (ctx.via && ctx.via.length ? ` (via ${ctx.via.join(' -> ')})` : '');

  if (ctx.wasReady) {
    if (/keepalive/i.test(message)) {
      return new ConnectionError(
        'closed',
        ctx.label,
        `no answer to SSH keepalives from ${where}; the connection was dropped`,
        { cause: err },
      );
    }
    return new ConnectionError('closed', ctx.label, `the connection to ${where} was lost (${message})`, {
      cause: err,
    });
  }
  if (code && DNS_CODES.has(code)) {
    return new ConnectionError('dns', ctx.label, `cannot resolve ${ctx.hostname} (${code})`, {
      hint: 'Check the name, HostName in ssh_config, and the DNS resolver.',
      cause: err,
    });
  }
  if (code === 'ECONNREFUSED') {
    return new ConnectionError('refused', ctx.label, `nothing accepts connections on ${where}`, {
      hint: 'Is sshd running, and is the port right?',
      cause: err,
    });
  }
  if (code === 'ETIMEDOUT' || e?.level === 'client-timeout' || /timed out/i.test(message)) {
    const stage =
      ctx.sawBanner || ctx.versionSeen ? 'the SSH handshake did not finish' : 'no SSH server answered';
    return new ConnectionError(
      'connect-timeout',
      ctx.label,
      `${stage} on ${where} within ${formatMs(ctx.connectTimeoutMs)}`,
      {
        hint: 'Is the host up and the port reachable (firewall)? Raise connectTimeout for slow links.',
        cause: err,
      },
    );
  }
  if (code && UNREACHABLE_CODES.has(code)) {
    return new ConnectionError('connect-timeout', ctx.label, `${where} is unreachable (${code})`, {
      cause: err,
    });
  }
  if (e?.level === 'client-authentication' || /authentication methods failed/i.test(message)) {
    return new ConnectionError('auth', ctx.label, `${ctx.user}@${ctx.hostname} refused every identity`, {
      cause: err,
    });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /lost before handshake/i.test(message)) {
    const stage = ctx.sawBanner ? 'during the SSH handshake' : 'before the SSH handshake';
    return new ConnectionError('protocol', ctx.label, `${where} closed the connection ${stage}`, {
      hint: ctx.sawBanner
        ? undefined
        : 'The server may be refusing connections beyond its MaxStartups, or a firewall resets them.',
      cause: err,
    });
  }
  return new ConnectionError('protocol', ctx.label, `SSH handshake with ${where} failed: ${message}`, {
    cause: err,
  });
}

/** True for failures worth another handshake attempt within the connect timeout (MaxStartups drops). */
export function isEarlyDrop(err: ConnectionError): boolean {
  return err.kind === 'protocol' && /before the SSH handshake/.test(err.message);
}

/** Whether a server's first bytes are an SSH version line (`SSH-2.0-OpenSSH_9.2`). */
export function isSshVersionLine(first: Buffer | undefined): boolean {
  return first !== undefined && first.subarray(0, 4).toString('latin1') === 'SSH-';
}

/**
 * The first line a server sent when it is neither an SSH version line nor sshd's "Exceeded
 * MaxStartups" refusal, made printable and short enough to quote; undefined otherwise.
 */
export function foreignGreeting(first: Buffer | undefined): string | undefined {
  if (first === undefined || isSshVersionLine(first)) return undefined;
  const line = first.subarray(0, 200).toString('latin1').split(/\r?\n/)[0]!;
  if (/MaxStartups/i.test(line)) return undefined;
  return line.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}

export function notAnSshServer(ctx: ClassifyContext, greeting: string): ConnectionError {
  return new ConnectionError(
    'protocol',
    ctx.label,
    `${ctx.hostname}:${ctx.port} is not an SSH server: it answered "${greeting}"`,
    { hint: 'Check the port: -p, Port in ssh_config, or port in the inventory.' },
  );
}
