// What run, copy and rolling share: library options from the flags, the renderer the output flags
// pick, Ctrl-C, the end of the run (report, last-run state, exit status).
import type { FleetOptions } from '../fleet/options.js';
import type { FleetReport } from '../fleet/report.js';
import type { HostResult } from '../fleet/host-result.js';
import { addressName } from '../process/address.js';
import { colorEnabled, palette, type Palette } from '../render/palette.js';
import { attachProgress, type ProgressOptions, type ProgressSource } from '../render/progress.js';
import { reportText } from '../render/report-text.js';
import { EXIT, exitCodeFor, maxExitCodeFor, type OutcomeCounts } from './exit-codes.js';
import { onInterrupt } from './interrupt.js';
import { onStdoutClosed, stdoutClosed } from './stdout-closed.js';
import { eventLine, streamEvents } from './render/ndjson.js';
import { writeOutputDir } from './render/output-dir.js';
import { streamLines } from './render/stream.js';
import { terminal, type Terminal } from './render/terminal.js';
import { recordJob } from './journal.js';

export interface ExecutionFlags {
  fanout?: number | 'adaptive';
  timeout?: number;
  deadline?: number;
  retries?: number;
  retryFailed?: boolean;
  failFast?: boolean;
  maxFailures?: number | `${number}%`;
  /** Show what each host would use and meet (src/cli/dry-run.ts); run nothing. */
  dryRun?: boolean;
}

export interface OutputFlags {
  stream?: boolean;
  gather?: boolean;
  json?: boolean;
  ndjson?: boolean;
  outputDir?: string;
  progress?: boolean;
  color?: boolean;
  /** Hosts' output as it came, control characters included (default: made printable). */
  raw?: boolean;
  /** false (-N): live lines without the host prefix, and the end of the run on stderr. */
  prefix?: boolean;
  /** -S: exit with the largest remote exit status (exit-codes.ts, maxExitCodeFor). */
  maxExit?: boolean;
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

/** A running job: a fleet run or a rolling deployment. */
export interface Job<R> extends PromiseLike<R> {
  on(event: string, listener: (payload: any) => void): unknown;
  cancel(reason?: string): unknown;
}

export interface JobSpec<R> {
  /** Subcommand and command line, kept with the last run's host sets. */
  label: string;
  hosts: readonly string[];
  flags: OutputFlags;
  /** Starts the job, drawing progress with these options when they are given (see `drawn`). */
  start(progress: ProgressOptions | undefined): Job<R>;
  /** Every host's result, once each. */
  results(report: R): readonly HostResult<unknown>[];
  /** The end of the job for operators (the default, --stream and --gather), without a final newline. */
  text(report: R, colors: Palette, opts: { groups: boolean; interrupted: boolean }): string;
  json(report: R): object;
  /** Events for --ndjson (default: the fleet run's). */
  events?: readonly string[];
  /** Extra live rendering (headers between batches, ...). */
  live?(job: Job<R>, term: Terminal, colors: Palette): void;
  /** Called once the report is in: close connections and the like. */
  cleanup?(): Promise<void>;
  /** Record the run in the journal, for history, @failed and friends (default true; the demo does not). */
  save?: boolean;
  /**
   * What the journal keeps to show and resume the job: the subcommand and its arguments (with the
   * flags, `fleetsh resume` starts it again), and whether it is a rolling deployment.
   */
  journal?: { command: string; args: unknown[]; rolling?: boolean };
}

/** Runs a job to its end and sets the exit status; prints the report the flags ask for. */
export async function runJob<R>(spec: JobSpec<R>): Promise<R> {
  const mode = outputMode(spec.flags);
  const colors = palette(spec.flags.color !== false && colorEnabled(process.stdout), {
    raw: spec.flags.raw === true,
  });
  const term = terminal();
  const progress =
    spec.flags.progress !== false &&
    (mode === 'live' || mode === 'stream' || mode === 'gather') &&
    process.stderr.isTTY
      ? { stream: process.stderr, tty: true }
      : undefined;
  const record = spec.save === false ? undefined : await recordJob(spec);
  const job = spec.start(progress);
  record?.attach(job);
  term.progressOn = progress !== undefined;
  if (mode === 'live' || mode === 'stream') {
    streamLines(
      job,
      spec.hosts.map((h) => addressName(h)),
      term,
      colors,
      spec.flags.prefix !== false,
    );
    spec.live?.(job, term, colors);
  }
  if (mode === 'ndjson') streamEvents(job, (line) => process.stdout.write(line), spec.events);
  const files = spec.flags.outputDir ? writeOutputDir(job, spec.flags.outputDir) : undefined;

  const interrupt = onInterrupt(
    (reason) => void job.cancel(reason),
    (line) => term.err(line + '\n'),
  );
  const offStdout = onStdoutClosed(() => void job.cancel('stdout was closed'));
  let report: R;
  try {
    report = await job;
  } finally {
    interrupt.dispose();
    offStdout();
    await files?.close();
  }
  term.progressOn = false;
  await spec.cleanup?.();

  const results = record ? record.results(spec.results(report)) : spec.results(report);
  const interrupted = interrupt.interrupted;
  const code = interrupted
    ? EXIT.interrupted
    : spec.flags.maxExit
      ? maxExitCodeFor(results)
      : exitCodeFor(countsOf(results));
  // With stdout closed (| head) nothing can be printed; the last run is still recorded, as after Ctrl-C.
  if (!stdoutClosed()) {
    const end = finalOutput(spec, report, mode, colors, interrupted, code);
    // -N: stdout holds what the hosts printed and nothing else, for a pipe (as pdsh -N).
    if (outputOnly(spec.flags, mode)) process.stderr.write(end);
    else process.stdout.write(end);
  }

  record?.finish(report, results, interrupted);
  process.exitCode = stdoutClosed() ? EXIT.outputClosed : code;
  return report;
}

function countsOf(results: readonly HostResult<unknown>[]): OutcomeCounts {
  const c: OutcomeCounts = {
    total: results.length,
    ok: 0,
    failed: 0,
    timeout: 0,
    unreachable: 0,
    skipped: 0,
  };
  for (const h of results) c[h.status]++;
  return c;
}

/** A fleet run that draws its progress with these options when they are given. */
export function drawn<J extends ProgressSource>(run: J, progress: ProgressOptions | undefined): J {
  if (progress) attachProgress(run, progress);
  return run;
}

/** The spec parts of a plain fleet run (run, demo): the report as FleetReport.toText() has it. */
export const fleetRunView = {
  results: (report: FleetReport<unknown>) => report.hosts,
  text: (report: FleetReport<unknown>, colors: Palette, opts: { groups: boolean; interrupted: boolean }) =>
    reportText(report, colors, opts),
  json: (report: FleetReport<unknown>) => report.toJSON(),
};

function finalOutput<R>(
  spec: JobSpec<R>,
  report: R,
  mode: Mode,
  colors: Palette,
  interrupted: boolean,
  code: number,
): string {
  if (mode === 'json')
    return JSON.stringify({ ...spec.json(report), interrupted, exitCode: code }, null, 2) + '\n';
  if (mode === 'ndjson') return eventLine('exit', { code, interrupted });
  // Without prefixes (-N) the gathered outputs would only repeat the lines already printed.
  const groups = mode !== 'stream' && !outputOnly(spec.flags, mode);
  return spec.text(report, colors, { groups, interrupted }) + '\n';
}

/** -N with live lines: stdout carries only the hosts' output. */
function outputOnly(flags: OutputFlags, mode: Mode): boolean {
  return flags.prefix === false && (mode === 'live' || mode === 'stream');
}
