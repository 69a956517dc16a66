// Every failure fleetsh reports is a FleetshError with a `kind`, so policies (retries, failure
// budgets, exit codes) can tell "the command failed" from "the host was unreachable".
import { printable } from './printable.js';
import type { CommandResult } from './result.js';

/** Why a host could not be used. Each maps to one thing the operator can do. */
export type ConnectionErrorKind =
  | 'dns' // the name does not resolve
  | 'refused' // nothing listens on the port
  | 'connect-timeout' // no TCP connection or no SSH banner within connectTimeout
  | 'auth' // every identity was refused, or a key could not be read or decrypted
  | 'unknown-host-key' // strict policy and the host is not in known_hosts
  | 'changed-host-key' // known_hosts has another key for this host
  | 'protocol' // the SSH handshake or a channel failed
  | 'closed' // the connection was lost while a command was in flight
  | 'config' // the target's settings are invalid (bad option, unreadable ssh_config)
  | 'resources' // this machine could not make the connection (out of file descriptors)
  | 'no-worker'; // scale-out (src/scale-out/): no live fleetsh worker serves the host's zone

export type ErrorKind = 'failed' | 'timeout' | 'cancelled' | 'usage' | ConnectionErrorKind;

/**
 * How far a connection got when it failed, as a fact of the protocol: `resolve` (settings, ssh_config,
 * DNS), `tcp` (no byte path to the server yet), `banner` (a path, no SSH version line yet), `kex`
 * (version line seen, keys being exchanged), `auth`, `channel` (opening a channel on a live
 * connection), `connected` (the connection was up, then lost).
 */
export type ConnectionStage = 'resolve' | 'tcp' | 'banner' | 'kex' | 'auth' | 'channel' | 'connected';

const STAGE_OF_KIND: Record<ConnectionErrorKind, ConnectionStage> = {
  config: 'resolve',
  dns: 'resolve',
  refused: 'tcp',
  resources: 'tcp',
  'connect-timeout': 'banner',
  'unknown-host-key': 'kex',
  'changed-host-key': 'kex',
  protocol: 'kex',
  auth: 'auth',
  closed: 'connected',
  'no-worker': 'resolve',
};

export class FleetshError extends Error {
  readonly kind: ErrorKind;
  /** The host the error is about, or 'local' for this machine; undefined for usage errors. */
  readonly host: string | undefined;
  constructor(kind: ErrorKind, message: string, options: { host?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.host = options.host;
  }
}

/** A command ran and ended badly: a non-zero exit code, or killed by a signal. */
export class CommandError extends FleetshError {
  readonly result: CommandResult;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly command: string;
  readonly stdout: string;
  readonly stderr: string;
  /** `message` replaces the usual one (a subclass that knows more about why). */
  constructor(result: CommandResult, message?: string) {
    const how = result.signal
      ? `was killed by signal ${result.signal}`
      : `exited with code ${result.exitCode}`;
    // The message is for people: the host's bytes in it are shown escaped (result.stderr keeps them).
    const tail = printable(result.stderrTail.trimEnd());
    super(
      'failed',
      message ??
        `${result.host}: command ${how}: ${abbreviate(result.command)}` +
          (tail ? `\nstderr (last lines):\n${tail}` : ''),
      { host: result.host },
    );
    this.result = result;
    this.exitCode = result.exitCode;
    this.signal = result.signal;
    this.command = result.command;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
  }
}

/**
 * Why sudo did not run the command: it refused before starting it (`refused`: it wants a password
 * it was not given, a terminal, or a rule the user lacks; its own words are in the message), it
 * asked for the password again after being given one (`password-rejected`), or the host has no sudo
 * (`not-found`).
 */
export type SudoFailure = 'refused' | 'password-rejected' | 'not-found';

/** What a SudoError knows, as facts: the message is made from them. */
export interface SudoFailureFacts {
  reason: SudoFailure;
  /** The user the command was to run as (undefined: sudo's default, root). */
  user: string | undefined;
  /** Whether fleetsh had a password to give sudo (without one, sudo ran with -n). */
  passwordGiven: boolean;
  /** Whether the command had a pseudo-terminal (sudo's words are then on stdout). */
  pty: boolean;
}

/**
 * sudo did not run the command. Kind 'failed' (the host was reached), an exit code (sudo's), and
 * `reason`. A command promise rejects with it even with `.nothrow()`, and a fleet never retries it:
 * the answer would be the same, and a rejected password counts toward locking the account.
 */
export class SudoError extends CommandError {
  readonly reason: SudoFailure;
  readonly user: string | undefined;
  constructor(result: CommandResult, facts: SudoFailureFacts) {
    super(result, sudoMessage(result, facts));
    this.reason = facts.reason;
    this.user = facts.user;
  }
}

function sudoMessage(result: CommandResult, f: SudoFailureFacts): string {
  const as = f.user === undefined ? '' : ` as ${printable(f.user)}`;
  const head = `${result.host}: sudo did not run the command${as}`;
  const command = abbreviate(result.command);
  if (f.reason === 'not-found')
    return `${head}: sudo is not installed (or not on the login PATH): ${command}`;
  if (f.reason === 'password-rejected') {
    return (
      `${head}: it rejected the password (it asked again): ${command}\n` +
      "Check the sudo password (the login user's own, unless sudoers says otherwise). fleetsh never " +
      'retries it: every wrong try counts toward locking the account.'
    );
  }
  // On a terminal, sudo's words are on stdout (printable takes the CR of CRLF line ends out).
  const words = printable((f.pty ? lastLines(result.stdout) : result.stderrTail).trim());
  const hints: string[] = [];
  if (!f.passwordGiven)
    hints.push(
      'If it wants a password, give it one (fleetsh run --ask-sudo-pass; the sudo password option in ' +
        'a script) or give the user a NOPASSWD rule.',
    );
  if (!f.pty) hints.push('If it wants a terminal (Defaults requiretty), add --tty (.pty() in a script).');
  if (f.passwordGiven)
    hints.push(`${hints.length > 0 ? 'Otherwise c' : 'C'}heck the user's rules in the host's sudoers.`);
  return (
    `${head} (it exited with code ${result.exitCode} before starting it): ${command}` +
    (words ? `\nsudo said:\n${words}` : '') +
    `\n${hints.join('\n')}`
  );
}

/** The last ten lines of a text, at most 4 KiB: as much as a message needs. */
function lastLines(text: string): string {
  return text.slice(-4096).split('\n').slice(-10).join('\n');
}

/** A command ran longer than its timeout and was killed (on the remote host too). */
export class TimeoutError extends FleetshError {
  readonly timeoutMs: number;
  /** What the command printed before it was killed. */
  readonly result: CommandResult;
  readonly command: string;
  constructor(result: CommandResult, timeoutMs: number) {
    super(
      'timeout',
      `${result.host}: command timed out after ${formatMs(timeoutMs)} and was killed: ${abbreviate(result.command)}`,
      { host: result.host },
    );
    this.timeoutMs = timeoutMs;
    this.result = result;
    this.command = result.command;
  }
}

/** A command was cancelled through an AbortSignal or .kill() before it ended on its own. */
export class CancelledError extends FleetshError {
  readonly result: CommandResult | undefined;
  constructor(host: string, command: string, result?: CommandResult, reason?: unknown) {
    const why =
      reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : '';
    super('cancelled', `${host}: command was cancelled${why}: ${abbreviate(command)}`, { host });
    this.result = result;
  }
}

/** The host could not be reached or used; no command ran (or the connection died under it). */
export class ConnectionError extends FleetshError {
  declare readonly kind: ConnectionErrorKind;
  /** What the operator can do about it, when there is something to do. */
  readonly hint: string | undefined;
  /** How far the connection got (set where the error is made; by default the kind's usual stage). */
  readonly stage: ConnectionStage;
  /**
   * A new attempt right away may succeed: the server dropped the connection early, as sshd does
   * past its MaxStartups, or this machine was out of descriptors for a moment. The connection tries
   * again by itself within its connect timeout.
   */
  readonly retryable: boolean;
  constructor(
    kind: ConnectionErrorKind,
    host: string,
    detail: string,
    options: { hint?: string; cause?: unknown; stage?: ConnectionStage; retryable?: boolean } = {},
  ) {
    super(kind, `${host}: ${describeKind(kind)}: ${detail}` + (options.hint ? `\n${options.hint}` : ''), {
      host,
      cause: options.cause,
    });
    this.hint = options.hint;
    this.stage = options.stage ?? STAGE_OF_KIND[kind];
    this.retryable = options.retryable ?? false;
  }
}

/** Bad input from the caller: a wrong option, an undefined interpolation, a malformed host set. */
export class UsageError extends FleetshError {
  constructor(message: string, options: { host?: string; cause?: unknown } = {}) {
    super('usage', message, options);
  }
}

export function isConnectionError(e: unknown): e is ConnectionError {
  return e instanceof ConnectionError;
}

const KIND_TEXT: Record<ConnectionErrorKind, string> = {
  dns: 'host name does not resolve',
  refused: 'connection refused',
  'connect-timeout': 'connection timed out',
  auth: 'authentication failed',
  'unknown-host-key': 'host key is not known',
  'changed-host-key': 'HOST KEY HAS CHANGED',
  protocol: 'SSH protocol error',
  closed: 'connection lost',
  config: 'invalid connection settings',
  resources: 'out of local resources',
  'no-worker': 'no live fleetsh worker in its zone',
};

function describeKind(kind: ConnectionErrorKind): string {
  return KIND_TEXT[kind];
}

export function abbreviate(command: string, max = 200): string {
  const oneLine = command.replace(/\s*\n\s*/g, ' ⏎ ');
  return oneLine.length <= max ? oneLine : oneLine.slice(0, max - 1) + '…';
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s} s` : `${s.toFixed(1)} s`;
}
