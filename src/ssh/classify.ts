// Every connection failure becomes a ConnectionError here, and only here: what ssh2, the socket or
// the server reported, with how far the connection got (its stage), turned into a kind, a message
// that names the host and says what happened in words, a hint when there is something to do, and
// whether trying again at once may work (`retryable`). Decisions downstream read those fields.
//
// ssh2 reports some failures only in words (a key's parse error, a channel refusal's description):
// where it gives a code or a reason number, that is what is read.
import { ConnectionError, FleetshError, formatMs, type ConnectionStage } from '../process/errors.js';

export interface ClassifyContext {
  /** The host as the user named it (ResolvedTarget.label). */
  label: string;
  hostname: string;
  port: number;
  user: string;
  connectTimeoutMs: number;
  /** Through which jump hosts, for messages. */
  via?: string[];
  /** How far the connection got when it failed. */
  stage: ConnectionStage;
  /** Whether the server had shown its host key (sshd past its MaxStartups closes before it). */
  hostKeySeen?: boolean;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
/** The code of `serverClosed()`: the server ended the byte stream. */
const CLOSED = 'FLEETSH_SERVER_CLOSED';

/** Our connect timer's failure, in ssh2's shape (`level: 'client-timeout'`). */
export function timedOut(): Error {
  return Object.assign(new Error('timed out'), { level: 'client-timeout' });
}

/** The server (or a proxy or jump host in between) ended the byte stream. */
export function serverClosed(): Error {
  return Object.assign(new Error('the server closed the connection'), { code: CLOSED });
}

/**
 * What an error ssh2 reports during the handshake stands for: a stream that has ended means the
 * server closed it (ssh2 then says only "Connection lost before handshake").
 */
export function handshakeFailure(
  e: unknown,
  transport: { destroyed: boolean; readableEnded: boolean },
): unknown {
  return transport.destroyed || transport.readableEnded ? serverClosed() : e;
}

export function classifyError(err: unknown, ctx: ClassifyContext): ConnectionError {
  if (err instanceof ConnectionError) return err;
  const stage = ctx.stage;
  if (err instanceof FleetshError) {
    return new ConnectionError('protocol', ctx.label, err.message, { cause: err, stage });
  }
  const e = err as NodeJS.ErrnoException & { level?: string };
  const code = e?.code;
  const message = String(e?.message ?? err);
  const where =
    `${ctx.hostname}:${ctx.port}` + (ctx.via && ctx.via.length ? ` (via ${ctx.via.join(' -> ')})` : '');

  if (stage === 'connected') {
    return new ConnectionError('closed', ctx.label, `the connection to ${where} was lost (${message})`, {
      cause: err,
      stage,
    });
  }
  if (code && DNS_CODES.has(code)) {
    return new ConnectionError('dns', ctx.label, `cannot resolve ${ctx.hostname} (${code})`, {
      hint: 'Check the name, HostName in ssh_config, and the DNS resolver.',
      cause: err,
      stage: 'resolve',
    });
  }
  if (code === 'ECONNREFUSED') {
    return new ConnectionError('refused', ctx.label, `nothing accepts connections on ${where}`, {
      hint: 'Is sshd running, and is the port right?',
      cause: err,
      stage: 'tcp',
    });
  }
  if (code === 'ETIMEDOUT' || e?.level === 'client-timeout') {
    const what =
      stage === 'tcp' || stage === 'banner' ? 'no SSH server answered' : 'the SSH handshake did not finish';
    return new ConnectionError(
      'connect-timeout',
      ctx.label,
      `${what} on ${where} within ${formatMs(ctx.connectTimeoutMs)}`,
      {
        hint: 'Is the host up and the port reachable (firewall)? Raise connectTimeout for slow links.',
        cause: err,
        stage,
      },
    );
  }
  if (code && UNREACHABLE_CODES.has(code)) {
    return new ConnectionError('connect-timeout', ctx.label, `${where} is unreachable (${code})`, {
      cause: err,
      stage: 'tcp',
    });
  }
  if (e?.level === 'client-authentication') {
    return new ConnectionError('auth', ctx.label, `${ctx.user}@${ctx.hostname} refused every identity`, {
      cause: err,
      stage: 'auth',
    });
  }
  if (code === CLOSED || code === 'ECONNRESET' || code === 'EPIPE') {
    // sshd past its MaxStartups closes new connections before it shows its host key, sometimes right
    // after its version line: such a close is worth another attempt (the 500-host stress test needs it).
    const early = stage === 'tcp' || stage === 'banner' || (stage === 'kex' && !ctx.hostKeySeen);
    return new ConnectionError(
      'protocol',
      ctx.label,
      `${where} closed the connection ${early ? 'before' : 'during'} the SSH handshake`,
      {
        hint: early
          ? 'The server may be refusing connections beyond its MaxStartups, or a firewall resets them.'
          : undefined,
        cause: err,
        stage,
        retryable: early,
      },
    );
  }
  return new ConnectionError('protocol', ctx.label, `SSH handshake with ${where} failed: ${message}`, {
    // ssh2 says 'handshake' for a key exchange it could not complete, mostly for want of a common algorithm.
    hint:
      e?.level === 'handshake'
        ? "If the server allows only algorithms outside fleetsh's defaults, name them in ssh_config: KexAlgorithms, HostKeyAlgorithms, Ciphers or MACs (e.g. Ciphers +aes128-cbc)."
        : undefined,
    cause: err,
    stage,
  });
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

/** Something other than sshd answered (a web server on the port): said once, never retried. */
export function notAnSshServer(ctx: ClassifyContext, greeting: string): ConnectionError {
  return new ConnectionError(
    'protocol',
    ctx.label,
    `${ctx.hostname}:${ctx.port} is not an SSH server: it answered "${greeting}"`,
    { hint: 'Check the port: -p, Port in ssh_config, or port in the inventory.', stage: 'banner' },
  );
}

/** SSH_MSG_CHANNEL_OPEN_FAILURE reason codes (RFC 4254 5.1), as ssh2 gives them in `reason`. */
const OPEN_PROHIBITED = 1;
const OPEN_CONNECT_FAILED = 2;

/**
 * A session channel the server refused with SSH_MSG_CHANNEL_OPEN_FAILURE: sshd past its MaxSessions
 * says "open failed" with reason 2 (measured against OpenSSH 9.2), others say 1 or 4. It is queued
 * again. An open that failed because the connection went has no reason number.
 */
export function isChannelRefused(e: unknown): boolean {
  return typeof (e as { reason?: unknown })?.reason === 'number';
}

/** A channel that could not be opened for another reason. */
export function channelError(label: string, e: unknown): ConnectionError {
  return new ConnectionError('protocol', label, `could not open a channel: ${(e as Error)?.message ?? e}`, {
    cause: e,
    stage: 'channel',
  });
}

/** A session opened, then its pseudo-terminal request (or the exec after it) was refused. */
export function ptyRefused(label: string, e: unknown): ConnectionError {
  return new ConnectionError('protocol', label, 'the server refused a pseudo-terminal for the command', {
    hint: 'Check PermitTTY in its sshd_config, and no-pty on the key in authorized_keys; or run without a terminal.',
    cause: e,
    stage: 'channel',
  });
}

/** A server that keeps refusing every channel while none of ours is open. */
export function channelsRefused(label: string, e: unknown): ConnectionError {
  return new ConnectionError(
    'protocol',
    label,
    `the server refuses to open a session channel (${(e as Error)?.message ?? e})`,
    { hint: 'Check MaxSessions in its sshd_config.', cause: e, stage: 'channel' },
  );
}

/** A jump host's failure to forward a connection to the next hop, by the reason it gave. */
export function forwardError(
  e: unknown,
  target: { label: string; hostname: string; port: number },
  viaLabel: string,
): ConnectionError {
  const msg = String((e as Error)?.message ?? e);
  const reason = (e as { reason?: unknown })?.reason;
  const where = `${target.hostname}:${target.port} (via ${viaLabel})`;
  if (reason === OPEN_CONNECT_FAILED) {
    return new ConnectionError(
      'refused',
      target.label,
      `jump host ${viaLabel} could not connect to ${target.hostname}:${target.port}: ${msg}`,
      { cause: e, stage: 'tcp' },
    );
  }
  if (reason === OPEN_PROHIBITED) {
    return new ConnectionError(
      'protocol',
      target.label,
      `jump host ${viaLabel} refused to forward to ${where}: ${msg}`,
      {
        hint: 'The jump host needs AllowTcpForwarding yes in its sshd_config.',
        cause: e,
        stage: 'tcp',
      },
    );
  }
  return new ConnectionError('protocol', target.label, `could not reach ${where}: ${msg}`, {
    cause: e,
    stage: 'tcp',
  });
}
