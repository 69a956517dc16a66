// A fleet run: awaitable (resolves to the report, never rejects for host failures), an EventEmitter
// with the batch-operations guide's events, and an async iterable of host results as they finish. It starts on the
// next turn of the event loop, so listeners attached right after creation see every event.
import { EventEmitter, setMaxListeners } from 'node:events';
import { abortable } from '../process/abort.js';
import { CommandResult } from '../process/result.js';
import { formatMs } from '../process/errors.js';
import {
  HostTaskError,
  outputOf,
  skippedResult,
  type Attempt,
  type HostResult,
  type SkipReason,
} from './host-result.js';
import { FailurePolicy, type PolicyOptions } from './policy.js';
import { FleetReport } from './report.js';
import { backoffMs, shouldRetry } from './retry.js';
import { Window } from './scheduler.js';
import type { Sample } from './adaptive.js';
import { ConnectTimes, connectOrPark } from './slow-connect.js';
import { classifyAttempt, loadSignal, StoppedWhileConnecting, withAbortGrace } from './attempt.js';
import type { ResolvedOptions } from './options.js';
import type { FleetHost, FleetShell, Target } from './target.js';

/** The environment variable that tells each command the name its host has in the run's report. */
export const HOST_VAR = 'FLEETSH_HOST';

export interface TaskContext {
  host: string;
  index: number;
  target: Target;
  /** 1-based. */
  attempt: number;
  /** Aborts when the host times out or the run kills it; the shell given to the task already obeys it. */
  signal: AbortSignal;
  /** Streams a line as a `server:output` event (the `run` template wires command output here). */
  emitLine(stream: 'stdout' | 'stderr', line: string): void;
  /** Streams bytes as a `server:data` event, exactly as they came (the `run` template wires output here). */
  emitData(stream: 'stdout' | 'stderr', data: Buffer): void;
}

export type HostTask<T> = (shell: FleetShell, ctx: TaskContext) => PromiseLike<T>;

export interface FleetEvents<T = unknown> {
  'batch:start': { total: number; concurrency: number };
  'server:start': { server: string; index: number; attempt: number };
  /** `result` is the trimmed stdout (as in the batch-operations guide), or the task's value; `host` is the full record. */
  'server:success': { server: string; index: number; result: unknown; progress: number; host: HostResult<T> };
  /** `error` is the message (as in the batch-operations guide); `cause` the error itself. */
  'server:error': {
    server: string;
    index: number;
    error: string;
    progress: number;
    host: HostResult<T>;
    cause: unknown;
  };
  'server:skipped': { server: string; index: number; reason: string; progress: number; host: HostResult<T> };
  'server:retry': {
    server: string;
    index: number;
    attempt: number;
    delayMs: number;
    error: string;
    kind: string;
  };
  'server:output': { server: string; index: number; stream: 'stdout' | 'stderr'; line: string };
  /** The same output as it arrived, byte for byte: for files that must keep exactly what hosts printed. */
  'server:data': { server: string; index: number; stream: 'stdout' | 'stderr'; data: Buffer };
  'concurrency:change': { from: number; to: number; reason: string };
  'batch:complete': { results: HostResult<T>[]; report: FleetReport<T> };
}

type Listener<T, K extends keyof FleetEvents<T>> = (payload: FleetEvents<T>[K]) => void;

interface AttemptState {
  attempt: number;
  started: number;
  ac: AbortController;
  timedOut: boolean;
  connected: boolean;
  /** The host's timeout, started once it is connected: reaching a host is bounded by connectTimeout. */
  timer: NodeJS.Timeout | undefined;
  cleanup(): void;
}

interface HostState {
  host: FleetHost;
  /** The attempt in progress (kept while the host waits for a slow connection outside the window). */
  current: AttemptState | undefined;
  shell: FleetShell | undefined;
  attempts: Attempt[];
  firstStart: number;
  lastError: unknown;
  lastValue: unknown;
}

export interface FleetRun<T> {
  on<K extends keyof FleetEvents<T>>(event: K, listener: Listener<T, K>): this;
  once<K extends keyof FleetEvents<T>>(event: K, listener: Listener<T, K>): this;
  off<K extends keyof FleetEvents<T>>(event: K, listener: Listener<T, K>): this;
}

export class FleetRun<T = CommandResult>
  extends EventEmitter
  implements PromiseLike<FleetReport<T>>, AsyncIterable<HostResult<T>>
{
  readonly total: number;
  readonly command: string | null;
  readonly #hosts: FleetHost[];
  readonly #task: HostTask<T>;
  readonly #opts: ResolvedOptions;
  readonly #policy: FailurePolicy;
  readonly #window: Window<HostState>;
  readonly #results: HostResult<T>[] = [];
  readonly #finished = new Set<string>();
  readonly #running = new Map<string, number>();
  readonly #kill = new AbortController(); // kills hosts in flight
  readonly #stop = new AbortController(); // stops waiting retries
  #stopping: { kind: SkipReason; reason: string } | undefined;
  #killKind: SkipReason | undefined;
  #startedAt = new Date();
  #t0 = 0;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #pendingCancel: string | undefined;
  readonly #connectTimes = new ConnectTimes();
  #parked = 0;
  #promise: Promise<FleetReport<T>> | undefined;
  #wake: (() => void) | undefined;
  #report: FleetReport<T> | undefined;

  constructor(
    hosts: FleetHost[],
    task: HostTask<T>,
    options: ResolvedOptions & { policy: PolicyOptions },
    command: string | null,
  ) {
    super();
    this.#hosts = hosts;
    this.#task = task;
    this.#opts = options;
    this.total = hosts.length;
    this.command = command;
    this.#policy = new FailurePolicy(options.policy, hosts.length);
    setMaxListeners(0, this.#kill.signal, this.#stop.signal); // one listener per host in flight or in backoff
    const states = hosts.map((host) => ({
      host,
      current: undefined,
      shell: undefined,
      attempts: [],
      firstStart: 0,
      lastError: undefined,
      lastValue: undefined,
    }));
    this.#window = new Window<HostState>(states, options.limit, (s) => this.#attempt(s));
    setImmediate(() => this.start());
  }

  /** Starts the run now (it starts by itself on the next turn of the event loop). */
  start(): this {
    this.#promise ??= this.#execute();
    return this;
  }

  /** Stops starting hosts; in-flight hosts are killed unless `inFlight: 'finish'`. Resolves with the report. */
  cancel(
    reason = 'the run was cancelled',
    options: { inFlight?: 'finish' | 'kill' } = {},
  ): Promise<FleetReport<T>> {
    const kill = (options.inFlight ?? 'kill') === 'kill';
    if (this.#promise) this.#halt('cancelled', reason, kill);
    else {
      this.#pendingCancel = reason;
      this.start();
    }
    return this.#promise!;
  }

  /** Results so far, in the order hosts finished. */
  get results(): readonly HostResult<T>[] {
    return this.#results;
  }
  get completed(): number {
    return this.#results.length;
  }
  /** Hosts in flight and since when (performance.now()). */
  get running(): ReadonlyMap<string, number> {
    return this.#running;
  }
  get concurrency(): number {
    return this.#opts.limit.current;
  }
  /** The report, once the run has ended. */
  get report(): FleetReport<T> | undefined {
    return this.#report;
  }

  then<A = FleetReport<T>, B = never>(
    onfulfilled?: ((value: FleetReport<T>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.start().#promise!.then(onfulfilled, onrejected);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<HostResult<T>> {
    this.start();
    let i = 0;
    for (;;) {
      if (i < this.#results.length) {
        yield this.#results[i++]!;
        continue;
      }
      if (this.#report) return;
      await new Promise<void>((resolve) => {
        const prev = this.#wake;
        this.#wake = () => (prev?.(), resolve());
      });
    }
  }

  async #execute(): Promise<FleetReport<T>> {
    this.#startedAt = new Date();
    this.#t0 = performance.now();
    this.#emit('batch:start', { total: this.total, concurrency: this.#opts.limit.current });
    if (this.#opts.deadlineMs !== undefined) {
      const ms = this.#opts.deadlineMs;
      this.#deadlineTimer = setTimeout(
        () => this.#halt('deadline', `the run's deadline of ${formatMs(ms)} passed`, true),
        ms,
      );
    }
    if (this.#pendingCancel !== undefined) this.#halt('cancelled', this.#pendingCancel, true);
    if (!this.#stopping) this.#window.pump();
    await this.#window.done;
    clearTimeout(this.#deadlineTimer);
    for (const h of this.#hosts) {
      // A safety net: a host the engine lost would break "every host exactly once".
      if (!this.#finished.has(h.name))
        this.#finish(
          skippedResult(h.name, h.index, 'not-reached', 'internal: never scheduled') as HostResult<T>,
          undefined,
        );
    }
    const report = new FleetReport<T>(this.#results, {
      command: this.command,
      startedAt: this.#startedAt,
      wallMs: Math.round(performance.now() - this.#t0),
      stopped: this.#stopping ? this.#stopping.reason : null,
      peakConcurrency: this.#window.peak,
    });
    this.#report = report;
    this.#emit('batch:complete', { results: report.hosts, report });
    this.#notify();
    return report;
  }

  #halt(kind: SkipReason, reason: string, kill: boolean): void {
    if (!this.#stopping) {
      this.#stopping = { kind, reason };
      for (const s of this.#window.stop())
        this.#finish(skippedResult(s.host.name, s.host.index, kind, reason) as HostResult<T>, undefined);
      this.#stop.abort(reason);
    }
    if (kill && !this.#kill.signal.aborted) {
      this.#killKind = kind;
      this.#kill.abort(reason);
    }
  }

  async #attempt(state: HostState): Promise<void> {
    const { host } = state;
    let a = state.current;
    if (!a) {
      // A new attempt (a resumed one, back from a slow connect, keeps its clock and its timer).
      const attempt = state.attempts.length + 1;
      const started = performance.now();
      if (attempt === 1) state.firstStart = started;
      a = state.current = {
        attempt,
        started,
        ac: new AbortController(),
        timedOut: false,
        connected: false,
        timer: undefined,
        cleanup: () => {},
      };
      const cur = a;
      const onKill = () => cur.ac.abort(this.#kill.signal.reason);
      if (this.#kill.signal.aborted) onKill();
      else this.#kill.signal.addEventListener('abort', onKill, { once: true });
      cur.cleanup = () => {
        clearTimeout(cur.timer);
        this.#kill.signal.removeEventListener('abort', onKill);
      };
      this.#running.set(host.name, started);
      this.#emit('server:start', { server: host.name, index: host.index, attempt });
    }
    const cur = a;
    let ok = false;
    let value: unknown;
    let error: unknown;
    try {
      state.shell ??= this.#opts.connect(host.target, { connectTimeout: this.#opts.connectTimeout });
      const connect = state.shell.connect;
      const slowMs = this.#opts.slowConnectMs;
      if (!cur.connected && slowMs !== undefined && typeof connect === 'function') {
        const shell = state.shell;
        const outcome = await connectOrPark(
          () => connect.call(shell),
          cur.ac.signal,
          slowMs,
          this.#connectTimes,
          () => this.#parked < this.#opts.limit.current,
        );
        if (outcome.parked) {
          // Out of the window while it connects; back to the front of the queue once connected.
          this.#parked++;
          const back = outcome.connecting.then(
            () => (cur.connected = true),
            (e) => (this.#endAttempt(state, false, undefined, e), false),
          );
          void back.then(() => this.#parked--);
          const stopped = (s: HostState) =>
            this.#endAttempt(s, false, undefined, new StoppedWhileConnecting());
          this.#window.park(state, back, stopped);
          return;
        }
        cur.connected = true;
      } else if (!cur.connected && typeof connect === 'function') {
        await abortable(connect.call(state.shell), cur.ac.signal);
        cur.connected = true;
      }
      const ms = this.#opts.timeoutMs;
      if (ms !== undefined && cur.timer === undefined)
        cur.timer = setTimeout(
          () => ((cur.timedOut = true), cur.ac.abort(`timed out after ${formatMs(ms)}`)),
          ms,
        );
      // FLEETSH_HOST: the host's name in this run's events and report, for every command of the task.
      const shell = state.shell.with({
        signal: cur.ac.signal,
        maxOutput: this.#opts.maxOutput,
        env: { [HOST_VAR]: host.name },
        ...this.#opts.commands,
      });
      const ctx: TaskContext = {
        host: host.name,
        index: host.index,
        target: host.target,
        attempt: cur.attempt,
        signal: cur.ac.signal,
        emitData: (stream, data) =>
          this.#emit('server:data', { server: host.name, index: host.index, stream, data }),
        emitLine: (stream, line) =>
          this.#emit('server:output', { server: host.name, index: host.index, stream, line }),
      };
      value = await withAbortGrace(Promise.resolve(this.#task(shell, ctx)), cur.ac.signal);
      ok = true;
    } catch (e) {
      error = e;
    }
    this.#endAttempt(state, ok, value, error);
  }

  #endAttempt(state: HostState, ok: boolean, value: unknown, error: unknown): void {
    const { host } = state;
    const cur = state.current!;
    state.current = undefined;
    cur.cleanup();
    this.#running.delete(host.name);
    const durationMs = Math.round(performance.now() - cur.started);
    const signal = cur.ac.signal;

    const { status, kind, message, reason } = classifyAttempt({
      host: host.name,
      ok,
      error,
      timedOutAfter: cur.timedOut ? this.#opts.timeoutMs! : undefined,
      killedBy: signal.aborted && this.#killKind ? this.#killKind : undefined,
      stopReason: this.#stopping?.reason ?? (signal.aborted ? String(signal.reason) : undefined),
      stoppedWhileConnecting: !cur.connected && error instanceof StoppedWhileConnecting,
    });
    const record: Attempt = {
      attempt: cur.attempt,
      status,
      kind,
      error: message,
      durationMs,
      retryInMs: null,
    };
    state.attempts.push(record);
    state.lastError = error;
    state.lastValue = value;
    // A host killed by the run (cancel, deadline, a stop) says nothing about the fleet's load.
    if (!signal.aborted || cur.timedOut)
      this.#observe({
        outcome: ok ? 'ok' : loadSignal(error, cur.timedOut),
        durationMs,
        startedAt: cur.started,
        full: this.#window.queued > 0,
      });

    if (
      !ok &&
      !cur.timedOut &&
      !signal.aborted &&
      !this.#stopping &&
      shouldRetry(this.#opts.retry, error, cur.attempt)
    ) {
      const delayMs = backoffMs(this.#opts.retry, cur.attempt);
      record.retryInMs = delayMs;
      this.#emit('server:retry', {
        server: host.name,
        index: host.index,
        attempt: cur.attempt + 1,
        delayMs,
        error: message ?? '',
        kind: kind ?? '',
      });
      this.#window.requeueAfter(state, delayMs, this.#stop.signal, (s) => this.#finishState(s, null));
      return;
    }
    this.#finishState(state, reason);
  }

  #finishState(state: HostState, reason: string | null): void {
    const last = state.attempts[state.attempts.length - 1]!;
    const error = state.lastError;
    const value =
      last.status === 'ok' ? state.lastValue : error instanceof HostTaskError ? error.details : null;
    const result: HostResult<T> = {
      host: state.host.name,
      index: state.host.index,
      status: last.status,
      success: last.status === 'ok',
      kind: last.kind,
      ...outputOf(last.status === 'ok' ? state.lastValue : error),
      attempts: state.attempts,
      durationMs: Math.round(performance.now() - state.firstStart),
      error: last.error,
      reason:
        reason ??
        (last.retryInMs !== null && this.#stopping ? `retry abandoned: ${this.#stopping.reason}` : null),
      value: (value instanceof CommandResult ? null : (value as T | null)) ?? null,
    };
    // The result holds the output now (decoded once); the command's buffers need not stay with the run.
    state.lastValue = undefined;
    state.lastError = undefined;
    this.#finish(result, error);
  }

  #finish(result: HostResult<T>, cause: unknown): void {
    if (this.#finished.has(result.host)) throw new Error(`internal: ${result.host} was reported twice`);
    this.#finished.add(result.host);
    this.#results.push(result);
    const progress = this.#results.length / this.total;
    const base = { server: result.host, index: result.index, progress, host: result };
    if (result.status === 'ok') {
      const shown = result.stdout !== null ? result.stdout.trim() : result.value;
      this.#emit('server:success', { ...base, result: shown });
    } else if (result.status === 'skipped') {
      this.#emit('server:skipped', { ...base, reason: result.reason ?? '' });
    } else {
      this.#emit('server:error', { ...base, error: result.error ?? result.reason ?? result.status, cause });
    }
    this.#notify();
    if (!this.#stopping && result.status !== 'skipped') {
      const stop = this.#policy.record(result.host, result.status);
      if (stop) this.#halt(stop.kind, stop.reason, this.#opts.inFlight === 'kill');
    }
  }

  /** Emits; a listener that throws does not break the run's bookkeeping: its error is rethrown on its own. */
  #emit(event: keyof FleetEvents<T>, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch (e) {
      process.nextTick(() => {
        throw e;
      });
    }
  }

  #observe(sample: Sample): void {
    const change = this.#opts.limit.observe(sample);
    if (change) this.#emit('concurrency:change', change);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
