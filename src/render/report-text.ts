// The end of a fleet run for operators, the one rendering of it: the output groups (identical
// outputs with the host set that printed them), the hosts that did not succeed by kind and message,
// why the run stopped early, and a one-line summary. The CLI prints it (with colours on a terminal)
// and FleetReport.toText() returns it (plain). The grouping, counting and folding are the
// library's (report.groups, report.failures); this only lays them out. Hosts' outputs, messages and
// names go through colors.show before any colour.
import type { ReportData } from '../fleet/report-data.js';
import { formatMs } from '../process/errors.js';
import type { Palette } from './palette.js';

export interface ReportTextOptions {
  /** The output groups (default true; --stream leaves them out, its lines were shown live). */
  groups?: boolean;
  /** Lines of each group shown before "… n more lines" (default 40). */
  maxGroupLines?: number;
  /** Said in front of the summary line when the run was interrupted (Ctrl-C). */
  interrupted?: boolean;
}

/** Failure messages shown per kind before "… and n more messages". */
const MAX_MESSAGES = 10;

/** The report as lines of text, without a final newline. */
export function reportText(report: ReportData, colors: Palette, options: ReportTextOptions = {}): string {
  const out: string[] = [];
  if (options.groups !== false) out.push(...groupLines(report, colors, options.maxGroupLines ?? 40));
  out.push(...failureLines(report, colors));
  if (report.stopped) out.push(colors.warn(`stopped early: ${colors.show(report.stopped)}`));
  out.push(summaryLine(report, colors, options.interrupted === true));
  return out.join('\n');
}

function groupLines(report: ReportData, colors: Palette, maxLines: number): string[] {
  const out: string[] = [];
  const rule = colors.dim('-'.repeat(16));
  for (const g of report.groups) {
    out.push(rule, colors.bold(`${colors.show(g.hosts)} (${g.count})${g.similar ? ' similar' : ''}`), rule);
    const lines = g.output === '' ? [colors.dim('(no output)')] : colors.show(g.output).split('\n');
    out.push(...lines.slice(0, maxLines));
    if (lines.length > maxLines) out.push(colors.dim(`… ${lines.length - maxLines} more lines`));
    for (const v of g.variants)
      out.push(colors.dim(colors.show(`  ${v.hosts}: ${v.differences.join(', ')}`)));
  }
  return out;
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
