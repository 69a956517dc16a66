// The CLI's run journal: where it is (--journal, $FLEETSH_JOURNAL, the older $FLEETSH_STATE_FILE,
// else the XDG state folder), every run/script/copy/pull/rolling recorded in it, and the resume in
// progress (`fleetsh resume` sets it; the selection and the job read it). The journal module loads
// SQLite's native addon, so it is imported only when a journal is used.
import { existsSync } from 'node:fs';
import type { HostResult } from '../fleet/host-result.js';
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
  if (env.FLEETSH_JOURNAL) return env.FLEETSH_JOURNAL;
  if (env.FLEETSH_STATE_FILE) return env.FLEETSH_STATE_FILE;
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

/** Starts recording a job: a new run, or the run being resumed as a new session of it. */
export async function startRecording(
  flags: JournalFlags,
  start: (journal: Journal) => RunWriter,
): Promise<RunWriter | undefined> {
  if (resuming) return resuming.journal.continueRun(resuming.runId);
  const journal = await cliJournal(flags);
  return journal ? start(journal) : undefined;
}
