// Rolling deployment: phases in order (database, then api, then web), each in batches such as
// [1, '10%', '100%'], a health check after each host or batch, an optional pause between batches,
// and a stop when the failure budget is exceeded, with a report of what was done, what was not, and why.
export { RollingReport, type BatchRecord, type PhaseRecord } from './rolling-report.js';
import { EventEmitter } from 'node:events';
import { sleep } from '../process/abort.js';
import { parseDuration, type Duration } from '../process/duration.js';
import { UsageError } from '../process/errors.js';
import { Fleet } from './fleet.js';
import { runCheck, type CheckSpec } from './health.js';
import { runLine } from './line.js';
import { HostTaskError, skippedResult, triedAndNotOk, type HostResult } from './host-result.js';
import { foldHosts } from './hostset.js';
import type { FleetOptions } from './options.js';
import { resolveBudget, type Budget } from './policy.js';
import { FleetReport } from './report.js';
import { RollingReport, type PhaseRecord } from './rolling-report.js';
import type { FleetRun, TaskContext } from './run.js';
import { resolveTargets, type FleetShell, type Target } from './target.js';

export type BatchSize = number | `${number}%`;
export type HostStep = string | ((shell: FleetShell, ctx: TaskContext) => PromiseLike<unknown>);

export interface RollingPhase {
  name: string;
  targets: Target | Iterable<Target>;
  command: HostStep;
  batches?: BatchSize | readonly BatchSize[];
  healthCheck?: CheckSpec;
  pause?: Duration;
}

export interface RollingOptions extends Omit<FleetOptions, 'failFast' | 'maxUnreachable' | 'stdin'> {
  phases: RollingPhase[];
  /** Batch sizes within each phase; the last repeats (default 1: one host at a time). */
  batches?: BatchSize | readonly BatchSize[];
  healthCheck?: CheckSpec;
  /** Run the health check right after each host's command ('host', default) or on the whole batch after it ('batch'). */
  healthCheckAfter?: 'host' | 'batch';
  /** Wait between batches. */
  pause?: Duration;
  /** Hosts that may fail over the whole deployment before it stops (default 0). */
  maxFailures?: Budget;
  /**
   * Resuming an interrupted deployment (`fleetsh resume`): per phase, the hosts an earlier attempt
   * finished, with their results. They are not run again; their results take their place in their
   * batches, the report and the failure budget. Batches are cut as before, from every host.
   */
  previous?: readonly (ReadonlyMap<string, HostResult<unknown>> | undefined)[];
}

/** Splits `n` hosts into batches: sizes as counts or percentages of n (at least 1); the last size repeats. */
export function batchSizes(n: number, sizes: BatchSize | readonly BatchSize[] = 1): number[] {
  const list = (Array.isArray(sizes) ? sizes : [sizes]) as BatchSize[];
  if (list.length === 0) throw new UsageError('option batches: expected at least one size');
  const out: number[] = [];
  let left = n;
  for (let i = 0; left > 0; i++) {
    const s = list[Math.min(i, list.length - 1)]!;
    let size: number;
    if (typeof s === 'number') {
      if (!Number.isInteger(s) || s < 1)
        throw new UsageError(`option batches: expected sizes ≥ 1 or percentages, got ${s}`);
      size = s;
    } else {
      const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(String(s));
      if (!m || Number(m[1]) <= 0)
        throw new UsageError(
          `option batches: expected sizes ≥ 1 or percentages such as '10%', got ${JSON.stringify(s)}`,
        );
      size = Math.max(1, Math.floor((Number(m[1]) * n) / 100 + 1e-9));
    }
    size = Math.min(size, left);
    out.push(size);
    left -= size;
  }
  return out;
}

async function runStep(step: HostStep, shell: FleetShell, ctx: TaskContext): Promise<unknown> {
  return typeof step === 'string' ? runLine(shell, step, ctx) : step(shell, ctx);
}

/** Runs a health check on one host (its command's lines streamed); throws a HostTaskError when it stays unhealthy. */
export async function checkHealth(health: CheckSpec, shell: FleetShell, ctx: TaskContext): Promise<void> {
  const result = await runCheck(health, shell, ctx, { stream: true });
  if (!result.ok) throw new HostTaskError(ctx.host, `health check failed: ${result.error}`, null);
}

export interface RollingEvents {
  'rolling:phase': { phase: string; hosts: string; total: number };
  'rolling:batch': { phase: string; batch: number; hosts: string; run: FleetRun<unknown> };
  'rolling:batch-done': { phase: string; batch: number; report: FleetReport<unknown> };
  'rolling:stop': { reason: string };
  'rolling:complete': { report: RollingReport };
}

export interface RollingRun {
  on<K extends keyof RollingEvents>(event: K, listener: (payload: RollingEvents[K]) => void): this;
  on(event: `server:${string}`, listener: (payload: any) => void): this;
}

/** A rolling deployment in progress: awaitable (the report), an EventEmitter, cancellable. */
export class RollingRun extends EventEmitter implements PromiseLike<RollingReport> {
  readonly #promise: Promise<RollingReport>;
  #current: FleetRun<unknown> | undefined;
  #cancelled: string | undefined;
  /** Aborted by cancel(): ends a pause between batches. */
  readonly #cancel = new AbortController();

  constructor(options: RollingOptions) {
    super();
    validate(options);
    this.#promise = new Promise<void>((r) => setImmediate(r)).then(() => this.#run(options));
  }

  /** Stops: the running batch's hosts are killed, nothing else starts. */
  cancel(reason = 'the deployment was cancelled'): Promise<RollingReport> {
    this.#cancelled = reason;
    this.#cancel.abort(reason);
    void this.#current?.cancel(reason);
    return this.#promise;
  }

  then<A = RollingReport, B = never>(
    onfulfilled?: ((value: RollingReport) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#promise.then(onfulfilled, onrejected);
  }

  async #run(o: RollingOptions): Promise<RollingReport> {
    const t0 = performance.now();
    const { phases, batches, healthCheck, healthCheckAfter, pause, maxFailures, previous, ...fleetOptions } =
      o;
    const total = phases.reduce((n, p) => n + resolveTargets(p.targets, o.expand, o.inventory).length, 0);
    const budget = resolveBudget(maxFailures ?? 0, total, 'maxFailures');
    let failures = 0;
    let stopped: string | null = null;
    let stopKind: 'budget' | 'cancelled' = 'budget'; // why hosts were not started
    const records: PhaseRecord[] = [];

    for (const [phaseNumber, phase] of phases.entries()) {
      const hosts = resolveTargets(phase.targets, o.expand, o.inventory);
      const done = previous?.[phaseNumber];
      const record: PhaseRecord = {
        name: phase.name,
        status: 'not-started',
        batches: [],
        report: undefined!,
      };
      records.push(record);
      const results: HostResult[] = [];
      if (!stopped) {
        record.status = 'done';
        this.emit('rolling:phase', {
          phase: phase.name,
          hosts: foldHosts(hosts.map((h) => h.name)),
          total: hosts.length,
        });
        const health = phase.healthCheck ?? healthCheck;
        const pauseMs = phase.pause ?? pause;
        let offset = 0;
        const sizes = batchSizes(hosts.length, phase.batches ?? batches);
        for (let b = 0; b < sizes.length && !stopped; b++) {
          const batch = hosts.slice(offset, offset + sizes[b]!);
          offset += batch.length;
          if (b > 0 && pauseMs !== undefined)
            await sleep(parseDuration(pauseMs, 'pause'), this.#cancel.signal).catch(() => {});
          if (this.#cancelled) {
            stopped = this.#cancelled;
            stopKind = 'cancelled';
            offset -= batch.length;
            break;
          }
          const todo = done ? batch.filter((h) => !done.has(h.name)) : batch;
          const ran =
            todo.length === 0
              ? undefined
              : await this.#batch(
                  phase,
                  b + 1,
                  todo.map((h) => h.target),
                  health,
                  healthCheckAfter ?? 'host',
                  fleetOptions,
                  budget - failures,
                );
          const report = todo === batch ? ran! : withPrevious(batch, todo, ran, done!);
          for (const h of report.hosts) results.push({ ...h, index: batch[h.index]!.index });
          record.batches.push({
            phase: phase.name,
            number: b + 1,
            hosts: foldHosts(batch.map((h) => h.name)),
            hostList: batch.map((h) => h.name),
            report,
          });
          failures += report.hosts.filter((h) => triedAndNotOk(h.status)).length;
          this.emit('rolling:batch-done', { phase: phase.name, batch: b + 1, report });
          if (this.#cancelled) {
            stopped = this.#cancelled;
            stopKind = 'cancelled';
          } else if (failures > budget) {
            const bad = foldHosts(report.hosts.filter((h) => triedAndNotOk(h.status)).map((h) => h.host));
            stopped = `maxFailures ${budget} exceeded (${failures} failed) in phase ${phase.name}, batch ${b + 1}: ${bad}`;
          }
        }
        if (stopped) {
          record.status = 'stopped';
          this.emit('rolling:stop', { reason: stopped });
        }
        for (const h of hosts.slice(offset))
          results.push(skippedResult(h.name, h.index, stopKind, `not started: ${stopped}`));
        // hosts of the last batch that the batch run itself skipped keep their own reason
      } else {
        for (const h of hosts)
          results.push(skippedResult(h.name, h.index, stopKind, `phase not started: ${stopped}`));
      }
      record.report = new FleetReport(results, {
        command: typeof phase.command === 'string' ? phase.command : null,
        startedAt: new Date(),
        wallMs: record.batches.reduce((n, b) => n + b.report.wallMs, 0),
        stopped,
        peakConcurrency: Math.max(0, ...record.batches.map((b) => b.report.peakConcurrency)),
      });
    }
    const report = new RollingReport(records, stopped, Math.round(performance.now() - t0));
    this.emit('rolling:complete', { report });
    return report;
  }

  async #batch(
    phase: RollingPhase,
    number: number,
    targets: Target[],
    health: CheckSpec | undefined,
    after: 'host' | 'batch',
    options: FleetOptions,
    budgetLeft: number,
  ): Promise<FleetReport<unknown>> {
    const fleet = new Fleet(targets, {
      concurrency: targets.length,
      ...options,
      maxFailures: Math.max(0, budgetLeft),
    });
    const run = fleet.each(
      async (shell, ctx) => {
        const value = await runStep(phase.command, shell, ctx);
        if (health && after === 'host') await checkHealth(health, shell, ctx);
        return value;
      },
      typeof phase.command === 'string' ? phase.command : null,
    );
    this.#current = run;
    for (const e of [
      'server:start',
      'server:success',
      'server:error',
      'server:skipped',
      'server:retry',
      'server:output',
      'server:data',
    ]) {
      run.on(e as 'server:start', (p) => this.emit(e, { ...p, phase: phase.name, batch: number }));
    }
    this.emit('rolling:batch', { phase: phase.name, batch: number, hosts: foldHosts(fleet.names), run });
    let report = await run;
    if (health && after === 'batch' && !this.#cancelled) {
      const okHosts = report.hosts.filter((h) => h.status === 'ok').map((h) => targets[h.index]!);
      const checking = new Fleet(okHosts, { concurrency: okHosts.length || 1, ...options }).each(
        (shell, ctx) => checkHealth(health, shell, ctx),
      );
      this.#current = checking; // a cancel now stops the checks
      const check = await checking;
      const verdict = new Map(check.hosts.map((h) => [h.host, h]));
      report = new FleetReport(
        report.hosts.map((h) => {
          const c = verdict.get(h.host);
          return c && c.status !== 'ok'
            ? { ...h, status: c.status, success: false, kind: c.kind, error: c.error }
            : h;
        }),
        {
          command: report.command,
          startedAt: report.startedAt,
          wallMs: report.wallMs + check.wallMs,
          stopped: report.stopped,
          peakConcurrency: report.peakConcurrency,
        },
      );
    }
    return report;
  }
}

/** A batch's report with the hosts an earlier attempt finished in it, indexed as in the batch. */
function withPrevious(
  batch: readonly { name: string }[],
  todo: readonly { name: string }[],
  ran: FleetReport<unknown> | undefined,
  done: ReadonlyMap<string, HostResult<unknown>>,
): FleetReport<unknown> {
  const position = new Map(batch.map((h, i) => [h.name, i]));
  const hosts = [
    ...(ran?.hosts ?? []).map((h) => ({ ...h, index: position.get(todo[h.index]!.name)! })),
    ...batch
      .filter((h) => done.has(h.name))
      .map((h) => ({ ...done.get(h.name)!, index: position.get(h.name)! })),
  ];
  return new FleetReport(hosts, {
    command: ran?.command ?? null,
    startedAt: ran?.startedAt ?? new Date(),
    wallMs: ran?.wallMs ?? 0,
    stopped: ran?.stopped ?? null,
    peakConcurrency: ran?.peakConcurrency ?? 0,
  });
}

function validate(o: RollingOptions): void {
  if ((o as FleetOptions).stdin !== undefined)
    throw new UsageError(
      'rolling: option stdin is for a fleet run (fleet.run); a rolling deployment sends no input',
    );
  if (!Array.isArray(o.phases) || o.phases.length === 0)
    throw new UsageError('rolling: option phases: expected at least one phase');
  for (const p of o.phases) {
    if (!p || typeof p.name !== 'string') throw new UsageError('rolling: each phase needs a name');
    if (typeof p.command !== 'string' && typeof p.command !== 'function')
      throw new UsageError(`rolling: phase ${p.name} needs a command (a string or a function)`);
    resolveTargets(p.targets, o.expand, o.inventory);
    batchSizes(100, p.batches ?? o.batches);
  }
  if (o.healthCheckAfter !== undefined && o.healthCheckAfter !== 'host' && o.healthCheckAfter !== 'batch') {
    throw new UsageError(
      `rolling: option healthCheckAfter: expected 'host' or 'batch', got ${JSON.stringify(o.healthCheckAfter)}`,
    );
  }
  if (!o.connect)
    throw new UsageError(
      'rolling: no transport: pass options.connect, or use $.rolling() which connects over SSH',
    );
}

export function rolling(options: RollingOptions): RollingRun {
  return new RollingRun(options);
}
