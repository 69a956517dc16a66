// One host's outcome in a fleet run. Every host gets exactly one, whatever happened to it.
import { CommandResult } from '../process/result.js';
import { ConnectionError, FleetshError, type ErrorKind } from '../process/errors.js';

export type HostStatus = 'ok' | 'failed' | 'timeout' | 'unreachable' | 'skipped';

/** Why a host never started. */
export type SkipReason = 'fail-fast' | 'budget' | 'cancelled' | 'deadline' | 'not-reached';

export interface Attempt {
  attempt: number;
  status: Exclude<HostStatus, 'skipped'>;
  kind: ErrorKind | null;
  error: string | null;
  durationMs: number;
  /** Backoff waited before the next attempt, when there was one. */
  retryInMs: number | null;
}

export interface HostResult<T = unknown> {
  host: string;
  index: number;
  status: HostStatus;
  /** The batch-operations guide's `success`: status is 'ok'. */
  success: boolean;
  /** The error kind ('failed', 'timeout', 'cancelled', 'refused', ...) or, for skipped hosts, why. */
  kind: ErrorKind | SkipReason | null;
  exitCode: number | null;
  signal: string | null;
  stdout: string | null;
  stderr: string | null;
  truncated: boolean;
  attempts: Attempt[];
  /** Wall time from the first attempt's start to the end, backoff included; 0 when skipped. */
  durationMs: number;
  /** The error message (names the host and what to do), or null. */
  error: string | null;
  /** For skipped hosts and killed ones: a sentence saying why. */
  reason: string | null;
  /** What a custom task returned (files, health, config sync), or its details on failure. */
  value: T | null;
}

/** An error a host task throws to fail the host while keeping details for the report. */
export class HostTaskError<T = unknown> extends FleetshError {
  readonly details: T;
  constructor(host: string, message: string, details: T, kind: 'failed' | 'timeout' = 'failed') {
    super(kind, `${host}: ${message}`, { host });
    this.details = details;
  }
}

/**
 * Tried and not ok: the host ran and did not succeed (failed, timed out or unreachable). Skipped
 * hosts never ran, so they are neither: budgets, rolling stops and "failed" host lists count these.
 */
export function triedAndNotOk(status: HostStatus): boolean {
  return status !== 'ok' && status !== 'skipped';
}

/** A message about a host without the host's name in front (`web1: refused` → `refused`), so equal failures read alike. */
export function withoutHostName(host: string, message: string): string {
  return message.startsWith(`${host}: `) ? message.slice(host.length + 2) : message;
}

export function statusOfError(e: unknown): Exclude<HostStatus, 'ok' | 'skipped'> {
  if (e instanceof ConnectionError) return 'unreachable';
  if (e instanceof FleetshError && e.kind === 'timeout') return 'timeout';
  return 'failed';
}

export function kindOfError(e: unknown): ErrorKind {
  return e instanceof FleetshError ? e.kind : 'failed';
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Output fields of a host result, from a command result (or an error that carries one). */
export function outputOf(
  value: unknown,
): Pick<HostResult, 'exitCode' | 'signal' | 'stdout' | 'stderr' | 'truncated'> {
  const result =
    value instanceof CommandResult
      ? value
      : value !== null &&
          typeof value === 'object' &&
          (value as { result?: unknown }).result instanceof CommandResult
        ? (value as { result: CommandResult }).result
        : undefined;
  if (!result) return { exitCode: null, signal: null, stdout: null, stderr: null, truncated: false };
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    stdout: result.stdout,
    stderr: result.stderr,
    truncated: result.truncated,
  };
}

export function skippedResult(
  host: string,
  index: number,
  kind: SkipReason,
  reason: string,
): HostResult<never> {
  return {
    host,
    index,
    status: 'skipped',
    success: false,
    kind,
    exitCode: null,
    signal: null,
    stdout: null,
    stderr: null,
    truncated: false,
    attempts: [],
    durationMs: 0,
    error: null,
    reason,
    value: null,
  };
}
