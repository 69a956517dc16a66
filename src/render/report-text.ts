// The end of a fleet run for operators, the one rendering of it: the output groups (identical
// outputs with the host set that printed them), the hosts that did not succeed by kind and message,
// why the run stopped early, and a one-line summary. The CLI prints it (with colours on a terminal)
// and FleetReport.toText() returns it (plain). The grouping, counting and folding are the
// library's (report.groups, report.failures); this only lays them out. Hosts' outputs, messages and
// names go through colors.show before any colour. A summary is bounded whatever the hosts printed:
// each group's text is cut to a few lines and characters (src/render/cut-text.ts), with a note of
// how much more there was and where it is.
import type { OutputGroup } from '../fleet/gather.js';
import type { ReportData } from '../fleet/report-data.js';
import { formatMs } from '../process/errors.js';
import { cutText } from './cut-text.js';
import type { Palette } from './palette.js';

export interface ReportTextOptions {
  /** The output groups (default true; the CLI's live lines leave them out, they were shown live). */
  groups?: boolean;
  /** Lines of each group's output shown (default 10). */
  maxGroupLines?: number;
  /** Characters of each group's output shown (default 500): a 1 MiB line is one line, cut here. */
  maxGroupChars?: number;
  /**
   * Where a cut group's full output is, said in its note (default: the library's words, each
   * host's `stdout` in `report.hosts`). `truncated`: a host printed more than its kept output.
   */
  fullOutput?: (group: OutputGroup) => string;
  /** Said in front of the summary line when the run was interrupted (Ctrl-C). */
  interrupted?: boolean;
}

export const DEFAULT_GROUP_LINES = 10;
export const DEFAULT_GROUP_CHARS = 500;
/** Near-identical variants listed per group before "… and n more variants". */
const MAX_VARIANTS = 10;
/** Failure messages shown per kind before "… and n more messages". */
const MAX_MESSAGES = 10;

/** The report as lines of text, without a final newline. */
export function reportText(report: ReportData, colors: Palette, options: ReportTextOptions = {}): string {
  const out: string[] = [];
  if (options.groups !== false) out.push(...groupLines(report, colors, options));
  out.push(...failureLines(report, colors));
  if (report.stopped) out.push(colors.warn(`stopped early: ${colors.show(report.stopped)}`));
  out.push(summaryLine(report, colors, options.interrupted === true));
  return out.join('\n');
}

function groupLines(report: ReportData, colors: Palette, options: ReportTextOptions): string[] {
  const maxLines = Math.max(1, options.maxGroupLines ?? DEFAULT_GROUP_LINES);
  const maxChars = Math.max(1, options.maxGroupChars ?? DEFAULT_GROUP_CHARS);
  const where = options.fullOutput ?? libraryFullOutput;
  const out: string[] = [];
  const rule = colors.dim('-'.repeat(16));
  for (const g of report.groups) {
    out.push(rule, colors.bold(`${colors.show(g.hosts)} (${g.count})${g.similar ? ' similar' : ''}`), rule);
    const cut = cutText(g.output, maxLines, maxChars);
    out.push(g.output === '' ? colors.dim('(no output)') : colors.show(cut.shown));
    if (cut.moreBytes > 0 || g.truncated) out.push(colors.dim(colors.show(moreNote(cut, g, where))));
    for (const [i, v] of g.variants.entries()) {
      if (i === MAX_VARIANTS) {
        out.push(colors.dim(`  … and ${g.variants.length - MAX_VARIANTS} more variants`));
        break;
      }
      const line = cutText(`  ${v.hosts}: ${v.differences.join(', ')}`, 1, maxChars);
      out.push(colors.dim(colors.show(line.shown + (line.moreBytes > 0 ? ' …' : ''))));
    }
  }
  return out;
}

/** `… 12,345 more bytes (198 more lines); full output: ...`, and whether the hosts printed past the cap. */
function moreNote(
  cut: { moreBytes: number; moreLines: number },
  g: OutputGroup,
  where: (g: OutputGroup) => string,
) {
  const parts: string[] = [];
  if (cut.moreBytes > 0) {
    const lines = cut.moreLines > 0 ? ` (${count(cut.moreLines, 'more line')})` : '';
    parts.push(`… ${count(cut.moreBytes, 'more byte')}${lines}`);
  }
  if (g.truncated) parts.push(`${cut.moreBytes > 0 ? '' : '… '}more was printed than is kept per host`);
  return `${parts.join(', ')}; full output: ${where(g)}`;
}

function count(n: number, what: string): string {
  return `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'}`;
}

function libraryFullOutput(g: OutputGroup): string {
  return g.truncated
    ? "past the cap (the maxOutput option), in no report; a run's server:data events carry every byte"
    : "each host's stdout in report.hosts";
}

/** Hosts that did not succeed, by status and kind; hosts that said the same thing share a line. */
function failureLines(report: ReportData, colors: Palette): string[] {
  const out: string[] = [];
  for (const kind of report.failures) {
    const paint = kind.status === 'skipped' ? colors.warn : colors.fail;
    out.push(paint(`${kind.key}: ${colors.show(kind.hosts)} (${kind.count})`));
    for (const [i, m] of kind.messages.entries()) {
      if (i === MAX_MESSAGES) {
        out.push(colors.dim(`  … and ${kind.messages.length - MAX_MESSAGES} more messages`));
        break;
      }
      out.push(`  ${colors.host(colors.show(m.hosts))}: ${colors.show(m.key).split('\n').join('\n    ')}`);
    }
  }
  return out;
}

/** `5 hosts: 3 ok, 1 failed, 1 skipped in 2.0 s (per host: p50 222 ms, max 2.0 s)`. */
function summaryLine(report: ReportData, colors: Palette, interrupted = false): string {
  const c = report.counts;
  const parts = [colors.ok(`${c.ok} ok`)];
  if (c.failed) parts.push(colors.fail(`${c.failed} failed`));
  if (c.timeout) parts.push(colors.fail(`${c.timeout} timed out`));
  if (c.unreachable) parts.push(colors.fail(`${c.unreachable} unreachable`));
  if (c.skipped) parts.push(colors.warn(`${c.skipped} skipped`));
  const d = report.durations;
  const timing = c.total > c.skipped ? ` (per host: p50 ${formatMs(d.p50)}, max ${formatMs(d.max)})` : '';
  const head = interrupted ? colors.warn('interrupted: ') : '';
  return `${head}${c.total} host${c.total === 1 ? '' : 's'}: ${parts.join(', ')} in ${formatMs(report.wallMs)}${timing}`;
}
