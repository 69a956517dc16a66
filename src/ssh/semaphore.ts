// A counting semaphore with a changeable limit and a priority lane, used for handshakes in flight
// (global) and channels per connection (MaxSessions). Waiters are served first in, first out;
// priority waiters (kill helpers) go before the others.

export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  fail: (reason: unknown) => void;
  cleanup?: () => void;
}

export class Semaphore {
  #limit: number;
  #active = 0;
  readonly #queue: Waiter[] = [];
  readonly #priority: Waiter[] = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  get limit(): number {
    return this.#limit;
  }
  set limit(value: number) {
    this.#limit = Math.max(1, Math.floor(value));
    this.#drain();
  }
  get active(): number {
    return this.#active;
  }
  get waiting(): number {
    return this.#queue.length + this.#priority.length;
  }

  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(options: { signal?: AbortSignal; priority?: boolean } = {}): Promise<Release> {
    const { signal, priority } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.#limit && this.waiting === 0) return Promise.resolve(this.#take());
    return new Promise<Release>((resolve, reject) => {
      const lane = priority ? this.#priority : this.#queue;
      const waiter: Waiter = { grant: resolve, fail: reject };
      if (signal) {
        const onAbort = () => {
          const i = lane.indexOf(waiter);
          if (i >= 0) lane.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      lane.push(waiter);
    });
  }

  /** Fails every waiter (the connection died). */
  rejectAll(reason: unknown): void {
    for (const w of [...this.#priority.splice(0), ...this.#queue.splice(0)]) {
      w.cleanup?.();
      w.fail(reason);
    }
  }

  #take(): Release {
    this.#active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      this.#drain();
    };
  }

  #drain(): void {
    while (this.#active < this.#limit) {
      const w = this.#priority.shift() ?? this.#queue.shift();
      if (!w) return;
      w.cleanup?.();
      w.grant(this.#take());
    }
  }
}
