// Progress for library users and the CLI alike: on a terminal, one redrawn line with a bar,
// done/total, percent, ETA and the hosts still running with their elapsed time; elsewhere, a plain
// line every few seconds. It draws from what a run exposes (its events, `running`, `completed`):
// the engine draws nothing. Off by default in the library (`progress: true` on $.fleet and
// $.rolling attaches it, see src/index.ts); the CLI attaches it on a terminal. Host names and the
// label are drawn through printable: a name may come from a dynamic source.
import { formatMs } from '../process/errors.js';
import { printable } from '../process/printable.js';

export interface ProgressOptions {
  /** Where to draw (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force the terminal or the plain style (default: the stream's isTTY). */
  tty?: boolean;
  /** Redraw period: 100 ms on a terminal, 5 s for plain lines. */
  intervalMs?: number;
  /** A name for the run in plain lines (default 'fleet'). */
  label?: string;
}

/** The `progress` option of a fleet or a rolling deployment: what to draw with, or undefined for nothing. */
export function progressFor(option: boolean | ProgressOptions | undefined): ProgressOptions | undefined {
  return option === true ? {} : option || undefined;
}

/** What the renderer reads from a run; FleetRun has it. */
export interface ProgressSource {
  readonly total: number;
  readonly completed: number;
  readonly running: ReadonlyMap<string, number>;
  readonly concurrency: number;
  on(event: string, listener: (payload: any) => void): unknown;
}

export interface ProgressState {
  total: number;
  done: number;
  ok: number;
  bad: number;
  elapsedMs: number;
  running: [string, number][];
  concurrency: number;
}

export function etaMs(s: Pick<ProgressState, 'total' | 'done' | 'elapsedMs'>): number | undefined {
  if (s.done === 0 || s.done >= s.total) return s.done >= s.total ? 0 : undefined;
  return Math.round((s.elapsedMs / s.done) * (s.total - s.done));
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** The terminal line (without control codes), fitted to `width`. */
export function renderBar(s: ProgressState, width = 100): string {
  const pct = s.total === 0 ? 100 : (s.done / s.total) * 100;
  const cells = 20;
  const filled = Math.round((pct / 100) * cells);
  const eta = etaMs(s);
  let line =
    `[${'#'.repeat(filled)}${'.'.repeat(cells - filled)}] ${s.done}/${s.total} ${pct.toFixed(0)}%` +
    ` ok ${s.ok} fail ${s.bad} ETA ${eta === undefined ? '?' : seconds(eta)}`;
  if (s.running.length > 0) {
    const longest = [...s.running].sort((a, b) => b[1] - a[1]);
    let shown = ' | running:';
    let n = 0;
    for (const [host, ms] of longest) {
      const part = ` ${printable(host)} ${seconds(ms)}`;
      if (line.length + shown.length + part.length + 6 > width) break;
      shown += part;
      n++;
    }
    if (n < longest.length) shown += ` +${longest.length - n}`;
    line += shown;
  }
  return line.length > width ? line.slice(0, width - 1) + '…' : line;
}

export function renderPlain(s: ProgressState, label = 'fleet'): string {
  const pct = s.total === 0 ? 100 : (s.done / s.total) * 100;
  const eta = etaMs(s);
  return (
    `${printable(label)}: ${s.done}/${s.total} (${pct.toFixed(1)}%) done, ${s.ok} ok, ${s.bad} not ok, ` +
    `${s.running.length} running, elapsed ${formatMs(Math.round(s.elapsedMs))}, ETA ${eta === undefined ? '?' : formatMs(eta)}`
  );
}

/** Draws the progress of a run until it completes; returns a function that stops drawing. */
export function attachProgress(run: ProgressSource, options: ProgressOptions = {}): () => void {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? Boolean(stream.isTTY);
  const interval = options.intervalMs ?? (tty ? 100 : 5000);
  let t0 = performance.now();
  let ok = 0;
  let bad = 0;
  let timer: NodeJS.Timeout | undefined;
  const state = (): ProgressState => {
    const now = performance.now();
    return {
      total: run.total,
      done: run.completed,
      ok,
      bad,
      elapsedMs: now - t0,
      running: [...run.running].map(([h, since]) => [h, now - since] as [string, number]),
      concurrency: run.concurrency,
    };
  };
  const draw = () => {
    if (tty) stream.write(`\r\x1b[K${renderBar(state(), (stream.columns ?? 100) - 1)}`);
    else stream.write(renderPlain(state(), options.label) + '\n');
  };
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
  };
  run.on('batch:start', () => {
    t0 = performance.now();
    timer = setInterval(draw, interval);
    timer.unref();
  });
  run.on('server:success', () => {
    ok++;
  });
  run.on('server:error', () => {
    bad++;
  });
  run.on('server:skipped', () => {
    bad++;
  });
  run.on('batch:complete', () => {
    stop();
    if (tty) stream.write(`\r\x1b[K`);
    stream.write(renderPlain(state(), options.label) + '\n');
  });
  return stop;
}

/** What the per-batch renderer reads from a rolling deployment; RollingRun has it. */
export interface RollingProgressSource {
  on(event: 'rolling:batch', listener: (payload: { run: ProgressSource }) => void): unknown;
}

/** Draws the progress of each batch of a rolling deployment, as a run of its own. */
export function attachRollingProgress(rolling: RollingProgressSource, options: ProgressOptions = {}): void {
  rolling.on('rolling:batch', ({ run }) => void attachProgress(run, options));
}
