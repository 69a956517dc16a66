// The `journal` option of `$.fleet()` and `$.rolling()`: a path or an opened journal, and the
// writer it attaches to a run (the fleet engine only emits events). Also what a run's options are
// without their secrets: a sudo password, a target's password or key never reach the file.
import type { FleetOptions } from '../fleet/options.js';
import type { FleetRun } from '../fleet/run.js';
import type { RollingOptions, RollingRun } from '../fleet/rolling.js';
import { resolveTargets } from '../fleet/target.js';
import { UsageError } from '../process/errors.js';
import { Journal } from './journal.js';
import type { Outcome, RunWriter } from './writer.js';

/** Journals opened from a path, one per path for the life of the process. */
const opened = new Map<string, Journal>();

/** The journal an option names (opened once per path), or undefined without one. */
export function journalOf(option: FleetOptions['journal']): Journal | undefined {
  if (option === undefined || option === null) return undefined;
  if (option instanceof Journal) return option;
  if (typeof option !== 'string')
    throw new UsageError('option journal: expected a file path, or a journal from openJournal(path)');
  let j = opened.get(option);
  if (!j) opened.set(option, (j = new Journal(option)));
  return j;
}

/** Option names whose values are kept (each a number, a word, or plain data without secrets). */
const KEPT = [
  'concurrency',
  'connectTimeout',
  'slowConnect',
  'timeout',
  'deadline',
  'retries',
  'inFlight',
  'failFast',
  'maxFailures',
  'maxUnreachable',
  'maxOutput',
  'pty',
  'batches',
  'healthCheckAfter',
  'pause',
] as const;

/** A run's options as the journal keeps them: no functions, streams, passwords or keys. */
export function optionsWithoutSecrets(options: Readonly<FleetOptions & Partial<RollingOptions>>): object {
  const out: Record<string, unknown> = {};
  for (const k of KEPT) {
    const v = (options as Record<string, unknown>)[k];
    if (v !== undefined && typeof v !== 'function') out[k] = JSON.parse(JSON.stringify(v) ?? 'null');
  }
  if (options.sudo !== undefined)
    out.sudo = typeof options.sudo === 'object' ? { user: options.sudo.user ?? 'root' } : options.sudo;
  if (typeof options.healthCheck === 'string') out.healthCheck = options.healthCheck;
  if (options.stdin !== undefined) out.stdin = true; // that there was input, never its bytes
  return out;
}

function outcomeOf(ok: boolean, stopped: string | null, cancelled: boolean): Outcome {
  return cancelled ? 'interrupted' : stopped ? 'stopped' : ok ? 'ok' : 'failed';
}

/** Records a fleet run in the journal the fleet's options name. */
export function recordFleetRun(
  run: FleetRun<unknown>,
  options: Readonly<FleetOptions>,
  hosts: readonly string[],
): RunWriter | undefined {
  const journal = journalOf(options.journal);
  if (!journal) return undefined;
  const writer = journal.startRun({
    kind: 'fleet',
    label: run.command,
    hosts: hosts.map((name) => ({ name })),
    options: optionsWithoutSecrets(options),
  });
  writer.attachFleet(run);
  run.once('batch:complete', ({ report }) =>
    writer.finish(
      outcomeOf(
        report.ok,
        report.stopped,
        report.hosts.some((h) => h.kind === 'cancelled'),
      ),
      report,
    ),
  );
  return writer;
}

/** Records a rolling deployment in the journal its options name. */
export function recordRolling(run: RollingRun, options: RollingOptions): RunWriter | undefined {
  const journal = journalOf(options.journal);
  if (!journal) return undefined;
  const hosts = options.phases.flatMap((p, phase) =>
    resolveTargets(p.targets, options.expand, options.inventory).map((h) => ({ name: h.name, phase })),
  );
  const writer = journal.startRun({
    kind: 'rolling',
    label: options.phases.map((p) => (typeof p.command === 'string' ? p.command : p.name)).join('; '),
    hosts,
    phases: options.phases.map((p) => p.name),
    options: optionsWithoutSecrets(options),
  });
  writer.attachRolling(run);
  run.on('rolling:complete', ({ report }) =>
    writer.finish(report.ok ? 'ok' : report.stopped ? 'stopped' : 'failed', report),
  );
  return writer;
}
