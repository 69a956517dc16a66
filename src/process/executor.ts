// The seam between the command promise (what to run, how to capture, when to give up) and a
// transport (this machine, or an SSH connection). A transport only starts a process, feeds it,
// reports its bytes and its end, and kills it when the signal aborts.
import type { Readable } from 'node:stream';
import type { FleetshError } from './errors.js';
import type { Pty, SudoOptions } from './exec-options.js';
import type { CommandResult } from './result.js';

export interface ExecRequest {
  /** The full command line, already quoted, run by a POSIX shell on the target. */
  command: string;
  /** Extra environment variables (names already validated). */
  env?: Record<string, string>;
  /** Working directory; the transport prefixes `cd DIR &&` or uses spawn's cwd. */
  cwd?: string;
  stdin?: string | Buffer | Readable;
  /** Aborting must kill the process (and its children), then the exec settles with how it ended. */
  signal: AbortSignal;
  /** Bytes as they arrive, in order per stream. */
  onData(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /**
   * Run the command on a pseudo-terminal (a transport without terminals rejects with a UsageError).
   * `false`: the command said no terminal, which wins over a transport's default (RequestTTY).
   */
  pty?: Pty | false;
  /** Run the command through sudo (a transport without sudo rejects with a UsageError). */
  sudo?: SudoOptions;
}

export interface ExecOutcome {
  exitCode: number | null;
  /** Signal name without the SIG prefix style normalised to e.g. 'SIGTERM'. */
  signal: string | null;
  /**
   * Set when what ran was not the command: the transport's wrapper (sudo) refused to start it. The
   * command promise rejects with this error, built from the result, even with `nothrow` (the command
   * has no exit status of its own).
   */
  failure?: (result: CommandResult) => FleetshError;
}

export interface Executor {
  /** The name used in results and errors: 'local', or the host as the user gave it. */
  readonly host: string;
  /**
   * Makes the transport ready to run commands (an SSH connection: connected and authenticated),
   * under its own timeout. A command's timeout counts from when this resolves: the time to reach a
   * host is not the command's. Rejects with a ConnectionError, or with the signal's reason.
   */
  ready?(signal: AbortSignal): Promise<void>;
  /**
   * Runs one command. Resolves with the exit status once the process ended and its output was
   * delivered. Rejects with a ConnectionError when the target cannot be reached or is lost.
   */
  exec(request: ExecRequest): Promise<ExecOutcome>;
}

/**
 * The reason given to the AbortSignal of an ExecRequest: which signal to send first, and how long to
 * wait before SIGKILL. Any other abort reason means SIGTERM with the default grace.
 */
export class KillRequest {
  constructor(
    readonly signal: NodeJS.Signals = 'SIGTERM',
    readonly graceMs = 2000,
  ) {}
}

export function killRequestOf(signal: AbortSignal): KillRequest {
  return signal.reason instanceof KillRequest ? signal.reason : new KillRequest();
}
