// Failure policy: when a run stops starting new hosts. Failed and timed-out hosts count against
// `maxFailures`; unreachable hosts count against `maxUnreachable` when it is given, and against
// `maxFailures` otherwise. `failFast` is both budgets at 0. Exceeding a budget (more failures than
// it allows) stops the run; hosts not yet started are reported skipped.
import { UsageError } from '../process/errors.js';
import { triedAndNotOk, type HostStatus } from './host-result.js';

export type Budget = number | `${number}%`;

export interface PolicyOptions {
  failFast?: boolean;
  maxFailures?: Budget;
  maxUnreachable?: Budget;
}

export interface StopDecision {
  kind: 'fail-fast' | 'budget';
  reason: string;
}

/** Resolves a budget against the host count: 5 → 5, '10%' → floor(10% of total). */
export function resolveBudget(budget: Budget | undefined, total: number, name: string): number {
  if (budget === undefined) return Infinity;
  if (typeof budget === 'number') {
    if (!Number.isInteger(budget) || budget < 0)
      throw new UsageError(`option ${name}: expected a count ≥ 0 or 'n%', got ${budget}`);
    return budget;
  }
  const m = typeof budget === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(budget) : null;
  if (!m || Number(m[1]) > 100)
    throw new UsageError(
      `option ${name}: expected a count or a percentage such as '10%', got ${JSON.stringify(budget)}`,
    );
  return Math.floor((Number(m[1]) / 100) * total + 1e-9);
}

export class FailurePolicy {
  readonly failFast: boolean;
  readonly maxFailures: number;
  readonly maxUnreachable: number;
  readonly #separate: boolean;
  failures = 0;
  unreachable = 0;

  constructor(options: PolicyOptions, total: number) {
    this.failFast = options.failFast === true;
    this.#separate = options.maxUnreachable !== undefined;
    this.maxFailures = this.failFast ? 0 : resolveBudget(options.maxFailures, total, 'maxFailures');
    this.maxUnreachable = this.failFast ? 0 : resolveBudget(options.maxUnreachable, total, 'maxUnreachable');
  }

  /** Counts one finished host; returns why the run must stop, if it must. */
  record(host: string, status: HostStatus): StopDecision | undefined {
    if (!triedAndNotOk(status)) return undefined;
    if (status === 'unreachable' && this.#separate) {
      this.unreachable++;
      if (this.unreachable > this.maxUnreachable) {
        return this.#stop(
          host,
          status,
          `maxUnreachable ${this.maxUnreachable} exceeded (${this.unreachable} unreachable)`,
        );
      }
      return undefined;
    }
    if (status === 'unreachable') this.unreachable++;
    this.failures++;
    if (this.failures > this.maxFailures) {
      return this.#stop(host, status, `maxFailures ${this.maxFailures} exceeded (${this.failures} failed)`);
    }
    return undefined;
  }

  #stop(host: string, status: HostStatus, budget: string): StopDecision {
    if (this.failFast) return { kind: 'fail-fast', reason: `fail-fast: ${host} was ${status}` };
    return { kind: 'budget', reason: `${budget}, the last being ${host} (${status})` };
  }
}
