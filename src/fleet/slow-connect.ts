// Slow connections: a host still connecting when it is slow both by the clock (slowConnect) and
// against its peers (4 × the median connect time so far) gives its slot back while it keeps trying,
// so black holes do not hold the window. On a fleet that is slow everywhere (a saturated
// controller) nobody is slow against its peers and nobody parks: parking would only pile up handshakes.

/** How often a host in a slow connect checks whether it is slow enough to give its slot back. */
const CHECK_MS = 250;

/** Recent connect times, to tell a host slow against its peers from a fleet slow everywhere. */
export class ConnectTimes {
  readonly #recent: number[] = [];
  add(ms: number): void {
    this.#recent.push(ms);
    if (this.#recent.length > 64) this.#recent.shift();
  }
  /** Slow means past `floorMs` and past 4 × the median connect time; 3 × `floorMs` before 3 connects are known. */
  slowAfter(floorMs: number): number {
    if (this.#recent.length < 3) return 3 * floorMs;
    const sorted = [...this.#recent].sort((a, b) => a - b);
    return Math.max(floorMs, 4 * sorted[Math.floor(sorted.length / 2)]!);
  }
}

export type ConnectOutcome = { parked: false } | { parked: true; connecting: Promise<void> };

/**
 * Connects, or gives up waiting once the host is slow and `mayPark()` allows it: then `connecting`
 * settles when the connection does (rejecting on failure or abort). Rejects when the connect fails
 * or the signal aborts before that.
 */
export async function connectOrPark(
  connect: () => Promise<void>,
  signal: AbortSignal,
  slowMs: number,
  times: ConnectTimes,
  mayPark: () => boolean,
): Promise<ConnectOutcome> {
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(signal.reason);
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
  aborted.catch(() => {});
  const t0 = performance.now();
  const connecting = Promise.race([connect(), aborted]).then(() => times.add(performance.now() - t0));
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const wait = Math.max(CHECK_MS, slowMs - (performance.now() - t0));
    const settled = await Promise.race([
      connecting.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), wait))),
    ]).finally(() => clearTimeout(timer));
    if (settled) return { parked: false };
    if (performance.now() - t0 >= times.slowAfter(slowMs) && mayPark()) return { parked: true, connecting };
  }
}
