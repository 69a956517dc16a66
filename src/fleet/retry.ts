// Retries: exponential backoff with jitter. By default only a failure to connect is retried; a
// command that ran and failed is retried only when the caller says it is safe (`on: 'failed'`).
// sudo refusing a command is never retried by these rules (a function of the caller's may).
import { ConnectionError, SudoError, UsageError, type ConnectionErrorKind } from '../process/errors.js';
import { statusOfError } from './host-result.js';

export type RetryOn = 'unreachable' | 'failed' | 'any' | ((error: unknown, attempt: number) => boolean);

export interface RetryOptions {
  /** Attempts in all, the first included (default 1: no retry). */
  attempts?: number;
  /** Delay before the second attempt (default 1000 ms). */
  baseMs?: number;
  /** Each further delay is multiplied by this (default 2). */
  factor?: number;
  /** Upper bound of one delay (default 30 000 ms). */
  maxMs?: number;
  /** Fraction of each delay drawn at random, 0 to 1 (default 0.2): the delay is d × (1 − jitter × random). */
  jitter?: number;
  /** Which failures are retried (default 'unreachable'). */
  on?: RetryOn;
}

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  factor: number;
  maxMs: number;
  jitter: number;
  on: RetryOn;
}

/** Connection failures that another try may cure. Auth, host keys, DNS and config will not. */
const TRANSIENT: ReadonlySet<ConnectionErrorKind> = new Set([
  'refused',
  'connect-timeout',
  'protocol',
  'closed',
  'resources',
]);

export function retryPolicy(options: number | RetryOptions | undefined): RetryPolicy {
  const o: RetryOptions = typeof options === 'number' ? { attempts: options } : (options ?? {});
  const policy: RetryPolicy = {
    attempts: o.attempts ?? 1,
    baseMs: o.baseMs ?? 1000,
    factor: o.factor ?? 2,
    maxMs: o.maxMs ?? 30_000,
    jitter: o.jitter ?? 0.2,
    on: o.on ?? 'unreachable',
  };
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) {
    throw new UsageError(`option retries.attempts: expected a whole number ≥ 1, got ${o.attempts}`);
  }
  for (const name of ['baseMs', 'factor', 'maxMs'] as const) {
    if (!Number.isFinite(policy[name]) || policy[name] < 0) {
      throw new UsageError(`option retries.${name}: expected a number ≥ 0, got ${o[name]}`);
    }
  }
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) {
    throw new UsageError(`option retries.jitter: expected a fraction between 0 and 1, got ${o.jitter}`);
  }
  if (typeof policy.on !== 'function' && !['unreachable', 'failed', 'any'].includes(policy.on)) {
    throw new UsageError(
      `option retries.on: expected 'unreachable', 'failed', 'any' or a function, got ${String(o.on)}`,
    );
  }
  return policy;
}

/** Whether a failed attempt (1-based) is tried again. Cancellation is never retried. */
export function shouldRetry(policy: RetryPolicy, error: unknown, attempt: number): boolean {
  if (attempt >= policy.attempts) return false;
  if (error instanceof Error && (error as { kind?: string }).kind === 'cancelled') return false;
  if (typeof policy.on === 'function') return policy.on(error, attempt);
  // sudo's refusal would be the same again, and each rejected password counts toward a lockout.
  if (error instanceof SudoError) return false;
  const transient = error instanceof ConnectionError && TRANSIENT.has(error.kind);
  const ran = statusOfError(error) !== 'unreachable';
  switch (policy.on) {
    case 'unreachable':
      return transient;
    case 'failed':
      return ran;
    case 'any':
      return transient || ran;
  }
}

/** The wait after failed attempt `attempt` (1-based). */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const full = Math.min(policy.maxMs, policy.baseMs * Math.pow(policy.factor, attempt - 1));
  return Math.round(full * (1 - policy.jitter * random()));
}
