// What run, copy and rolling share: library options from the flags, the renderer the output flags
// pick, Ctrl-C, the end of the run (report, last-run state, exit status).
import type { FleetOptions } from '../fleet/options.js';
import type { ProgressOptions } from '../fleet/progress.js';
import type { FleetReport } from '../fleet/report.js';
import type { FleetRun } from '../fleet/run.js';
import { colorEnabled, palette } from './color.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { onInterrupt } from './interrupt.js';
import { renderJson } from './render/json.js';
import { eventLine, streamEvents } from './render/ndjson.js';
import { writeOutputDir } from './render/output-dir.js';
import { streamLines } from './render/stream.js';
import { renderSummary } from './render/summary.js';
import { terminal } from './render/terminal.js';
import { saveLastRun } from './state.js';

export interface ExecutionFlags {
  fanout?: number | 'adaptive';
  timeout?: number;
  deadline?: number;
  retries?: number;
  retryFailed?: boolean;
  failFast?: boolean;
  maxFailures?: number | `${number}%`;
}

export interface OutputFlags {
  stream?: boolean;
  gather?: boolean;
  json?: boolean;
  ndjson?: boolean;
  outputDir?: string;
  progress?: boolean;
  color?: boolean;
}

export const DEFAULT_FANOUT = 64;

/** The fleet engine's options for the execution flags. */
export function fleetOptions(flags: ExecutionFlags): FleetOptions {
  const options: FleetOptions = { concurrency: flags.fanout ?? DEFAULT_FANOUT };
  if (flags.timeout !== undefined) options.timeout = flags.timeout;
  if (flags.deadline !== undefined) options.deadline = flags.deadline;
  if (flags.retries !== undefined && flags.retries > 0) {
    options.retries = { attempts: flags.retries + 1, on: flags.retryFailed ? 'any' : 'unreachable' };
  }
  if (flags.failFast) options.failFast = true;
  if (flags.maxFailures !== undefined) options.maxFailures = flags.maxFailures;
  return options;
}

export type Mode = 'live' | 'stream' | 'gather' | 'json' | 'ndjson';

export function outputMode(flags: OutputFlags): Mode {
  if (flags.json) return 'json';
  if (flags.ndjson) return 'ndjson';
  if (flags.gather) return 'gather';
  if (flags.stream) return 'stream';
  return 'live';
}

/** An empty selection (`@failed` after a clean run) runs nothing and succeeds, saying so. */
export function noHosts(flags: OutputFlags & { hosts?: string }): void {
  process.stderr.write(`fleetsh: no hosts selected by ${JSON.stringify(flags.hosts ?? '')}: nothing to do\n`);
  if (flags.json || flags.ndjson)
    process.stdout.write(flags.json ? '{"counts":{"total":0}}\n' : eventLine('exit', { code: 0 }));
  process.exitCode = EXIT.ok;
}

export interface JobSpec<T> {
  /** Subcommand and command line, kept with the last run's host sets. */
  label: string;
  hosts: readonly string[];
  flags: OutputFlags;
  /** Starts the run with the progress option the flags and the terminal call for. */
  start(progress: ProgressOptions | undefined): FleetRun<T>;
  /** Called once the report is in: close connections and the like. */
  cleanup?(): Promise<void>;
}

/** Runs a fleet job to its end and sets the exit status; prints the report the flags ask for. */
export async function runJob<T>(spec: JobSpec<T>): Promise<FleetReport<T>> {
  const mode = outputMode(spec.flags);
  const colors = palette(spec.flags.color !== false && colorEnabled(process.stdout));
  const term = terminal();
  const progress =
    spec.flags.progress !== false &&
    (mode === 'live' || mode === 'stream' || mode === 'gather') &&
    process.stderr.isTTY
      ? { stream: process.stderr, tty: true }
      : undefined;
  const run = spec.start(progress);
  if (progress) {
    term.progressOn = true;
    run.on('batch:complete', () => (term.progressOn = false));
  }
  if (mode === 'live' || mode === 'stream') streamLines(run, spec.hosts, term, colors);
  if (mode === 'ndjson') streamEvents(run as never, (line) => process.stdout.write(line));
  const files = spec.flags.outputDir ? writeOutputDir(run, spec.flags.outputDir) : undefined;

  const interrupt = onInterrupt(
    (reason) => void run.cancel(reason),
    (line) => term.err(line + '\n'),
  );
  let report: FleetReport<T>;
  try {
    report = await run;
  } finally {
    interrupt.dispose();
    await files?.close();
  }
  await spec.cleanup?.();

  const interrupted = interrupt.interrupted;
  const code = interrupted ? EXIT.interrupted : exitCodeFor(report.counts);
  if (mode === 'json') process.stdout.write(renderJson(report, { exitCode: code, interrupted }));
  else if (mode === 'ndjson') process.stdout.write(eventLine('exit', { code, interrupted }));
  else process.stdout.write(renderSummary(report, colors, { groups: mode !== 'stream', interrupted }));

  await saveLastRun({ command: spec.label, sets: lastRunSets(report) });
  process.exitCode = code;
  return report;
}

function lastRunSets(report: FleetReport<unknown>) {
  const names = (...statuses: string[]) =>
    report.hosts.filter((h) => statuses.includes(h.status)).map((h) => h.host);
  return {
    ok: names('ok'),
    failed: names('failed', 'timeout'),
    unreachable: names('unreachable'),
    skipped: names('skipped'),
  };
}
