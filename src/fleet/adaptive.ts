// The adaptive limit: finds the knee of a fleet (the width past which hosts only queue) from the
// hosts' own latency, a round at a time. Hand-written because the libraries that do this
// (Netflix's concurrency-limits and its ports) serve a steady stream of requests and update on
// every sample; a fleet starts each host once, and updating on every sample lets the first fast
// results of a small window grow it before the slow ones of the same window report.
import { UsageError } from '../process/errors.js';

export interface Sample {
  /**
   * 'dropped': the server closed the connection or broke the protocol, in the handshake (sshd past
   * MaxStartups, once the SSH layer's own retries ran out) or under the command; 'timeout': a
   * connect timeout or the host's timeout. 'failed' says nothing about load
   * (refused, DNS, authentication, host keys, an exit code).
   */
  outcome: 'ok' | 'failed' | 'dropped' | 'timeout';
  durationMs: number;
  /** When the host started (performance.now()). */
  startedAt: number;
  /** Hosts were waiting for a slot when it ended: the limit, not the end of the fleet, held them back. */
  full: boolean;
}

export interface LimitChange {
  from: number;
  to: number;
  reason: string;
}

export interface AdaptiveOptions {
  initial?: number;
  min?: number;
  max?: number;
  /** A round whose median latency exceeds this is queueing, whatever the baseline (default: none). */
  slowMs?: number;
}

/**
 * A round is at least this many hosts: with 4, on this 2-core machine at a load of 27, one slow
 * host moved a round's median enough to cut a limit of 4 to 2 (bench/adaptive.ts from 2).
 */
const MIN_ROUND = 8;
/** Fewer successes than this in a round say nothing about its latency. */
const MIN_OKS = 3;
/** A round's median latency within this much of the baseline is no queue: noise, not load. */
const TOLERANCE = 0.25;
/** The cut on load failures, as TCP's multiplicative decrease (Reno halves; 0.7 is CUBIC's). */
const BACKOFF = 0.7;

/**
 * Decides once per round: the first `current` hosts (at least MIN_ROUND) that started at the
 * current limit and ended; a queue may be decided on the first half of a round (its faster hosts).
 * Hosts started before the last change measured an older limit and are ignored (failures: before
 * the last cut, since slow failures would otherwise always miss the round they belong to).
 *
 * - Baseline: the median latency of the rounds before the first queue, the fleet without one.
 * - A round within TOLERANCE/2 of it, while hosts wait for a slot: the limit doubles (slow start,
 *   until the first sign of a queue) or grows by √current (Gradient2's allowance). Between
 *   TOLERANCE/2 and TOLERANCE: it holds (Vegas's band between α and β).
 * - Past TOLERANCE: `current × baseline / latency` hosts were served while the rest queued
 *   (Little's law), so the limit goes to that knee plus TOLERANCE/2 (at most halving at once). If
 *   the last cut did not lower the latency, it was not a queue but slower hosts: the baseline moves.
 * - Drops and timeouts cut by 30 %: connections the servers dropped when a quarter of a round; timeouts, which black holes give too, when two thirds of it. A black hole among fast
 *   peers is that host's fault, not load.
 * - Only rounds in which hosts were waiting for a slot decide anything.
 */
export class AdaptiveLimit {
  current: number;
  readonly min: number;
  readonly max: number;
  readonly #slowMs: number | undefined;
  #slowStart = true;
  #since = -Infinity; // hosts started before the last change measured an older limit
  #sinceCut = -Infinity; // failures of hosts started before the last cut were answered by it
  #round: Sample[] = [];
  #baseline = Infinity;
  #unloaded: number[] = []; // latencies of the rounds before the first queue
  #cutFrom: number | undefined; // the median latency that caused the last latency cut

  constructor(options: AdaptiveOptions = {}) {
    this.min = options.min ?? 1;
    this.max = options.max ?? 256;
    this.current = options.initial ?? Math.min(this.max, Math.max(this.min, 8));
    this.#slowMs = options.slowMs;
    if (
      !(this.min >= 1 && this.min <= this.current && this.current <= this.max) ||
      ![this.min, this.max, this.current].every(Number.isInteger)
    ) {
      throw new UsageError(
        `option concurrency: adaptive limits must be whole numbers with 1 ≤ min ≤ initial ≤ max, got ${JSON.stringify(options)}`,
      );
    }
  }

  /** The latency of the fleet without a queue, as learnt so far (ms). */
  get baselineMs(): number {
    return this.#baseline;
  }

  observe(sample: Sample): LimitChange | undefined {
    // A failure is usually slow: ignoring those that started before a rise would hide them all.
    const failure = sample.outcome === 'dropped' || sample.outcome === 'timeout';
    if (sample.startedAt < (failure ? this.#sinceCut : this.#since)) return undefined;
    this.#round.push(sample);
    const size = Math.max(this.current, MIN_ROUND);
    if (this.#round.length < Math.max(MIN_ROUND, Math.ceil(size / 2))) return undefined;
    const complete = this.#round.length >= size;
    const change = this.#decide(this.#round, complete);
    if (change || complete) this.#round = [];
    if (change) this.#since = sample.startedAt + sample.durationMs;
    if (change && change.to < change.from) this.#sinceCut = this.#since;
    return change;
  }

  /** On half a round (its first hosts to end, the faster ones), only a queue is decided. */
  #decide(round: Sample[], complete: boolean): LimitChange | undefined {
    // With no host waiting for a slot (the end of a fleet) the limit holds nobody back: it says
    // nothing, and the slow failures that report last would pass for most of a round.
    if (round.filter((s) => s.full).length < round.length / 2) return undefined;
    const oks = round.filter((s) => s.outcome === 'ok').map((s) => s.durationMs);
    const dropped = round.filter((s) => s.outcome === 'dropped').length;
    const failures = dropped + round.filter((s) => s.outcome === 'timeout').length;
    const median = oks.length >= MIN_OKS ? medianOf(oks) : undefined;
    if (this.#baseline === Infinity && median !== undefined) this.#baseline = median;
    const ratio = median === undefined ? 1 : median / this.#baseline;
    const queued =
      median !== undefined &&
      (ratio > 1 + TOLERANCE || (this.#slowMs !== undefined && median > this.#slowMs));
    if (!complete && !queued) return undefined;

    const hungUp = dropped >= Math.max(2, round.length / 4);
    const most = failures >= (round.length * 2) / 3;
    if (hungUp || most) {
      this.#slowStart = false;
      this.#cutFrom = undefined;
      const what = hungUp
        ? `${dropped} of ${round.length} hosts had their connection dropped`
        : `${failures} of ${round.length} hosts dropped or timed out in one round`;
      return this.#set(Math.floor(this.current * BACKOFF), what);
    }
    if (queued) {
      if (this.#cutFrom !== undefined && median > 0.9 * this.#cutFrom && this.#slowMs === undefined) {
        // The last cut did not lower the latency: not a queue, the hosts got slower. Learn it.
        this.#baseline = median;
        this.#cutFrom = undefined;
        return undefined;
      }
      this.#slowStart = false;
      this.#cutFrom = median;
      const slow = this.#slowMs !== undefined && median > this.#slowMs;
      const target = slow ? this.#slowMs! : this.#baseline * (1 + TOLERANCE / 2);
      const knee = Math.floor((this.current * target) / median);
      return this.#set(
        Math.max(Math.ceil(this.current / 2), knee),
        `latency ${Math.round(median)} ms against ${Math.round(this.#baseline)} ms without a queue`,
      );
    }
    this.#cutFrom = undefined;
    if (median === undefined) return undefined;
    // Latency starting to rise ends the doubling (as TCP's HyStart does) and holds (as Vegas does).
    if (ratio > 1 + TOLERANCE / 2) {
      this.#slowStart = false;
      return undefined;
    }
    if (this.#slowStart) {
      // Rounds before the first sign of a queue are the fleet without one: the baseline.
      this.#unloaded.push(...oks);
      this.#baseline = medianOf(this.#unloaded);
    }
    const to = this.#slowStart
      ? this.current * 2
      : this.current + Math.max(1, Math.floor(Math.sqrt(this.current)));
    return this.#set(
      to,
      `latency ${Math.round(median)} ms, within ${(TOLERANCE / 2) * 100} % of ${Math.round(this.#baseline)} ms without a queue`,
    );
  }

  #set(wanted: number, reason: string): LimitChange | undefined {
    const from = this.current;
    const to = Math.min(this.max, Math.max(this.min, wanted));
    if (to === from) return undefined;
    this.current = to;
    return { from, to, reason };
  }
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
