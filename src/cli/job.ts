// What run, copy and rolling share: library options from the flags, the renderer the output flags
// pick, Ctrl-C, the end of the run (report, last-run state, exit status).
import type { FleetOptions } from '../fleet/options.js';
import type { FleetReport } from '../fleet/report.js';
import type { HostResult } from '../fleet/host-result.js';
import { addressName } from '../process/address.js';
import { colorEnabled, palette, type Palette } from '../render/palette.js';
import { attachProgress, type ProgressOptions, type ProgressSource } from '../render/progress.js';
import { reportText, type ReportTextOptions } from '../render/report-text.js';
import { EXIT, exitCodeFor, maxExitCodeFor, type OutcomeCounts } from './exit-codes.js';
import { onInterrupt } from './interrupt.js';
import { onStdoutClosed, stdoutClosed } from './stdout-closed.js';
import { writeJson } from './render/json.js';
import { eventLine, streamEvents } from './render/ndjson.js';
import { fullOutputIn, writeOutputDir } from './render/output-dir.js';
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

/**
 * `stream` (the default, as clush without -b): live lines, then the failures and the summary, not
 * the outputs again; `gather` (as clush -b): no live lines, the outputs gathered at the end.
 */
export type Mode = 'stream' | 'gather' | 'json' | 'ndjson';

export function outputMode(flags: OutputFlags): Mode {
  if (flags.json) return 'json';
  if (flags.ndjson) return 'ndjson';
  if (flags.gather) return 'gather';
  return 'stream';
}

/**
 * What a command run keeps of each host's output. Live lines (the default) show every line as it
 * comes and the end of the run shows none of them again, so the run keeps none (a result then
 * says `truncated`; stderr's last lines stay kept for the failures' messages): memory per host
 * does not grow with what it prints, as with clush. --gather, --json and --ndjson keep the fleet's
 * cap (1 MiB a stream); --output-dir writes every byte either way.
 */
export function outputKept(flags: OutputFlags): Pick<FleetOptions, 'maxOutput'> {
  return outputMode(flags) === 'stream' ? { maxOutput: 0 } : {};
}

/** An empty selection (`@failed` after a clean run) runs nothing and succeeds, saying so. */
export function noHosts(flags: OutputFlags & { hosts?: string }): void {
  process.stderr.write(`fleetsh: no hosts selected by ${JSON.stringify(flags.hosts ?? '')}: nothing to do\n`);
  if (flags.json || flags.ndjson)
    process.stdout.write(flags.json ? '{"counts":{"total":0}}\n' : eventLine('exit', { code: 0 }));
  process.exitCode = EXIT.ok;
}

/** How the end of a job is drawn: src/render/report-text.ts's options, as the flags set them. */
export type EndOptions = Pick<ReportTextOptions, 'fullOutput'> & { groups: boolean; interrupted: boolean };

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
  text(report: R, colors: Palette, opts: EndOptions): string;
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
    spec.flags.progress !== false && (mode === 'stream' || mode === 'gather') && process.stderr.isTTY
      ? { stream: process.stderr, tty: true }
      : undefined;
  const record = spec.save === false ? undefined : await recordJob(spec);
  const job = spec.start(progress);
  record?.attach(job);
  term.progressOn = progress !== undefined;
  if (mode === 'stream') {
    streamLines(
      job,
      spec.hosts.map((h) => addressName(h)),
      term,
      colors,
      spec.flags.prefix !== false,
    );
    spec.live?.(job, term, colors);
  }
  if (mode === 'ndjson') streamEvents(job, (line) => term.out(line), spec.events);
  const files = spec.flags.outputDir ? writeOutputDir(job, spec.flags.outputDir) : undefined;

  const interrupt = onInterrupt(
    (reason) => void job.cancel(reason),
    // Flushed at once: the second Ctrl-C exits before the end of this turn.
    (line) => (term.err(line + '\n'), term.flush()),
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
  term.flush();
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
    // --json: written in pieces, never as one string (src/cli/render/json.ts).
    if (mode === 'json')
      writeJson({ ...spec.json(report), interrupted, exitCode: code }, (text) => process.stdout.write(text));
    else {
      const end = finalOutput(spec, report, mode, colors, interrupted, code);
      // -N: stdout holds what the hosts printed and nothing else, for a pipe (as pdsh -N).
      if (outputOnly(spec.flags, mode)) process.stderr.write(end);
      else process.stdout.write(end);
    }
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
  text: (report: FleetReport<unknown>, colors: Palette, opts: EndOptions) => reportText(report, colors, opts),
  json: (report: FleetReport<unknown>) => report.toJSON(),
};

function finalOutput<R>(
  spec: JobSpec<R>,
  report: R,
  mode: Exclude<Mode, 'json'>,
  colors: Palette,
  interrupted: boolean,
  code: number,
): string {
  if (mode === 'ndjson') return eventLine('exit', { code, interrupted });
  // The live lines showed every output already: only --gather shows them gathered (and cut).
  const groups = mode === 'gather';
  return (
    spec.text(report, colors, { groups, interrupted, fullOutput: fullOutputIn(spec.flags.outputDir) }) + '\n'
  );
}

/** -N with live lines: stdout carries only the hosts' output. */
function outputOnly(flags: OutputFlags, mode: Mode): boolean {
  return flags.prefix === false && mode === 'stream';
}
