// The CLI's run journal: where it is (--journal, $FLEETSH_JOURNAL, the older $FLEETSH_STATE_FILE,
// else the XDG state folder), every run/script/copy/pull/rolling recorded in it, and the resume in
// progress (`fleetsh resume` sets it; the selection and the job read it). The journal module loads
// SQLite's native addon, so it is imported only when a journal is used.
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { HostResult } from '../fleet/host-result.js';
import type { RollingRun } from '../fleet/rolling.js';
import type { FleetRun } from '../fleet/run.js';
import { addressName } from '../process/address.js';
import { CliUsageError } from './errors.js';
import type { Journal, RunSet } from '../journal/journal.js';
import type { RunWriter } from '../journal/writer.js';

export interface JournalFlags {
  /** --journal PATH, or false for --no-journal. */
  journal?: string | false;
}

/** The journal's path for these flags, or undefined with --no-journal. */
export async function journalPath(flags: JournalFlags): Promise<string | undefined> {
  if (flags.journal === false) return undefined;
  if (typeof flags.journal === 'string') return flags.journal;
  const env = process.env;
  // /dev/null (as the older last-run file allowed): keep nothing.
  const named = env.FLEETSH_JOURNAL || env.FLEETSH_STATE_FILE;
  if (named === '/dev/null') return undefined;
  if (named) return named;
  const { defaultJournalPath } = await import('../journal/journal.js');
  return defaultJournalPath();
}

const opened = new Map<string, Journal>();

/** The journal these flags name, opened once per process; undefined with --no-journal. */
export async function cliJournal(
  flags: JournalFlags,
  options: { mustExist?: boolean } = {},
): Promise<Journal | undefined> {
  const path = await journalPath(flags);
  if (path === undefined) return undefined;
  let j = opened.get(path);
  if (!j) {
    const { openJournal } = await import('../journal/journal.js');
    opened.set(path, (j = openJournal(path, options)));
  }
  return j;
}

/** The hosts of `@failed` and friends (the newest run), or of `12:@failed` (run 12). */
export async function runHostSet(flags: JournalFlags, run: number | 'last', set: RunSet): Promise<string[]> {
  const name = run === 'last' ? `@${set}` : `${run}:@${set}`;
  const path = await journalPath(flags);
  if (path === undefined)
    throw new CliUsageError(`${name}: the journal is off (--no-journal): there is no run to take hosts from`);
  if (!existsSync(path))
    throw new CliUsageError(`${name}: there is no previous run to take hosts from (no journal at ${path})`);
  const journal = (await cliJournal(flags, { mustExist: true }))!;
  const id = run === 'last' ? journal.lastRunId() : run;
  if (id === undefined)
    throw new CliUsageError(`${name}: there is no previous run to take hosts from (journal ${path})`);
  if (run !== 'last' && !journal.summary(id))
    throw new CliUsageError(`${name}: run ${id} is not in the journal ${path} (fleetsh history lists them)`);
  return journal.hostSet(id, set);
}

/** A resume in progress: which run, the hosts left to run, and what the earlier sessions finished. */
export interface ResumeContext {
  journal: Journal;
  runId: number;
  /** The hosts as written, in the run's order, that this session runs (a fleet run) or considers (rolling). */
  hosts: string[];
  /** Per phase (one for a fleet run): the hosts finished before, with their results. */
  previous: Map<string, HostResult<unknown>>[];
  /** Hosts in flight when the run stopped that the operator chose to leave: recorded as skipped. */
  skipped: { result: HostResult<unknown>; phase: number }[];
}

let resuming: ResumeContext | undefined;

export function setResume(context: ResumeContext | undefined): void {
  resuming = context;
}

export function currentResume(): ResumeContext | undefined {
  return resuming;
}

/** What a job's recording needs of its spec (src/cli/job.ts, JobSpec). */
interface RecordedJob {
  label: string;
  hosts: readonly string[];
  flags: object;
  journal?: { command: string; args: unknown[]; rolling?: boolean };
}

/** A job's recording: attached to the job, then ended with its report. */
export interface JobRecord {
  attach(job: unknown): void;
  /** The results the exit status is judged on: a resumed run's include the hosts finished before. */
  results(results: readonly HostResult<unknown>[]): readonly HostResult<unknown>[];
  finish(report: unknown, results: readonly HostResult<unknown>[], interrupted: boolean): void;
}

/** Starts recording a job: a new run, or the run being resumed as a new session of it. */
export async function recordJob(spec: RecordedJob): Promise<JobRecord | undefined> {
  const flags = spec.flags as JournalFlags & { hosts?: string; outputDir?: string };
  const command = spec.journal?.command ?? spec.label.split(' ')[0]!;
  const rolling = spec.journal?.rolling === true;
  const resume = resuming;
  let writer: RunWriter | undefined;
  if (resume) writer = resume.journal.continueRun(resume.runId);
  else {
    const journal = await cliJournal(flags);
    if (!journal) return undefined;
    const kept = flagsWithoutSecrets(spec.flags);
    writer = journal.startRun({
      kind: command,
      label: spec.label,
      selection: flags.hosts ?? null,
      hosts: spec.hosts.map((written) => ({ name: addressName(written), written })),
      ...(rolling ? { phases: ['deploy'] } : {}),
      options: kept,
      resume: spec.journal ? { command, args: spec.journal.args, flags: kept } : null,
      outputDir: flags.outputDir === undefined ? null : resolvePath(flags.outputDir),
    });
  }
  const w = writer;
  for (const s of resume?.skipped ?? []) w.hostEnd(s.result, s.phase);
  return {
    attach: (job) => (rolling ? w.attachRolling(job as RollingRun) : w.attachFleet(job as FleetRun<unknown>)),
    results: (results) =>
      resume && !rolling ? [...results, ...resume.previous.flatMap((m) => [...m.values()])] : results,
    finish: (report, results, interrupted) => {
      const end = report as { stopped?: string | null; wallMs?: number };
      const stopped = end.stopped ?? null;
      const ok = results.every((h) => h.status === 'ok');
      w.finish(interrupted ? 'interrupted' : stopped ? 'stopped' : ok ? 'ok' : 'failed', {
        stopped,
        wallMs: end.wallMs ?? 0,
      });
    },
  };
}

/** The flags as the journal keeps them: plain values only (no flag holds a secret: passwords are asked). */
function flagsWithoutSecrets(flags: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flags))
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v) || Array.isArray(v)) out[k] = v;
  return out;
}
