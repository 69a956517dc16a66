// The sliding window: a new host starts the moment a slot frees, never in chunks that wait for the
// slowest. The limit is fixed or adaptive; hosts waiting out a retry backoff hold no slot.
import { UsageError } from '../process/errors.js';
import { AdaptiveLimit, type AdaptiveOptions, type LimitChange, type Sample } from './adaptive.js';

export interface Limit {
  readonly current: number;
  /** Feeds one finished attempt; returns the change when the limit changed. */
  observe(sample: Sample): LimitChange | undefined;
}

export class FixedLimit implements Limit {
  constructor(readonly current: number) {}
  observe(): undefined {
    return undefined;
  }
}

export type ConcurrencyOption = number | 'adaptive' | AdaptiveOptions;

/** Default width: wide enough to hide handshake latency, narrow enough for a bastion's MaxStartups. */
export const DEFAULT_CONCURRENCY = 32;

export function makeLimit(option: ConcurrencyOption | undefined): Limit {
  if (option === undefined) return new FixedLimit(DEFAULT_CONCURRENCY);
  if (option === 'adaptive') return new AdaptiveLimit();
  if (typeof option === 'number') {
    if (!Number.isInteger(option) || option < 1) {
      throw new UsageError(
        `option concurrency: expected a whole number ≥ 1, 'adaptive' or { initial, min, max }, got ${option}`,
      );
    }
    return new FixedLimit(option);
  }
  if (typeof option === 'object' && option !== null) return new AdaptiveLimit(option);
  throw new UsageError(
    `option concurrency: expected a whole number ≥ 1, 'adaptive' or { initial, min, max }, got ${JSON.stringify(option)}`,
  );
}

/**
 * Hands items to `start` while fewer than the limit are running. `start` resolves when the item's
 * attempt is over. Items re-enter through `requeue` (a retry) and jump the queue.
 */
export class Window<T> {
  readonly #queue: T[];
  readonly #start: (item: T) => Promise<void>;
  #running = 0;
  #waiting = 0; // items in a backoff, coming back
  #stopped = false;
  #idle: (() => void) | undefined;
  readonly done: Promise<void>;
  /** The most ever running at once: the tests' and the report's witness that the limit held. */
  peak = 0;

  constructor(
    items: T[],
    readonly limit: Limit,
    start: (item: T) => Promise<void>,
  ) {
    this.#queue = [...items];
    this.#start = start;
    this.done = new Promise((resolve) => (this.#idle = resolve));
  }

  get running(): number {
    return this.#running;
  }

  /** Items waiting for a slot (not those in a backoff or a slow connect). */
  get queued(): number {
    return this.#queue.length;
  }

  pump(): void {
    while (!this.#stopped && this.#running < this.limit.current && this.#queue.length > 0) {
      const item = this.#queue.shift()!;
      this.#running++;
      this.peak = Math.max(this.peak, this.#running);
      void this.#start(item).finally(() => {
        this.#running--;
        this.pump();
      });
    }
    this.#checkIdle();
  }

  /** A retry is on its way back after `ms`; it holds no slot while it waits. */
  requeueAfter(item: T, ms: number, signal: AbortSignal, onAbandon: (item: T) => void): void {
    this.#waiting++;
    const back = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', abandon);
      this.#waiting--;
    };
    const abandon = () => {
      back();
      onAbandon(item);
      this.#checkIdle();
    };
    const timer = setTimeout(() => {
      back();
      if (this.#stopped) onAbandon(item);
      else this.#queue.unshift(item);
      this.pump();
    }, ms);
    signal.addEventListener('abort', abandon, { once: true });
  }

  /**
   * The item gives its slot back while `until` settles (a slow connection); it returns to the front
   * of the queue when `until` is true, or `onStopped` gets it when the window stopped meanwhile.
   */
  park(item: T, until: Promise<boolean>, onStopped: (item: T) => void): void {
    this.#waiting++;
    void until.then((back) => {
      this.#waiting--;
      if (back) {
        if (this.#stopped) onStopped(item);
        else this.#queue.unshift(item);
      }
      this.pump();
    });
  }

  /** Stops starting items; returns those never started. */
  stop(): T[] {
    this.#stopped = true;
    const rest = this.#queue.splice(0);
    this.#checkIdle();
    return rest;
  }

  #checkIdle(): void {
    if (this.#running === 0 && this.#waiting === 0 && (this.#queue.length === 0 || this.#stopped))
      this.#idle?.();
  }
}
