// The end of a run for operators: the report's output groups (identical outputs with the host set
// that printed them), the hosts that did not succeed listed by kind, and a one-line summary. The
// grouping, counting and folding are the library's (report.groups, gatherFailures); this only lays
// them out. Outputs, messages and host names go through colors.show before any colour.
import { formatMs } from '../../process/errors.js';
import { gatherFailures } from '../../fleet/gather.js';
import type { HostResult } from '../../fleet/host-result.js';
import type { FleetReport } from '../../fleet/report.js';
import type { Palette } from '../color.js';

export interface SummaryOptions {
  /** Print the output groups (not in --stream-only renderings). */
  groups: boolean;
  interrupted: boolean;
  /** Lines of each group shown before "… n more lines". */
  maxLines?: number;
}

export function renderSummary(report: FleetReport<unknown>, colors: Palette, opts: SummaryOptions): string {
  const out: string[] = [];
  if (opts.groups) out.push(...renderGroups(report, colors, opts.maxLines ?? 40));
  out.push(...renderFailures(report.hosts, colors));
  if (report.stopped) out.push(colors.warn(`stopped early: ${colors.show(report.stopped)}`));
  out.push(summaryLine(report, colors, opts.interrupted));
  return out.join('\n') + '\n';
}

function renderGroups(report: FleetReport<unknown>, colors: Palette, maxLines: number): string[] {
  const out: string[] = [];
  for (const g of report.groups) {
    const rule = '-'.repeat(Math.max(3, 16));
    out.push(
      colors.dim(rule),
      colors.bold(`${colors.show(g.hosts)} (${g.count})${g.similar ? ' similar' : ''}`),
      colors.dim(rule),
    );
    const lines = g.output === '' ? [colors.dim('(no output)')] : colors.show(g.output).split('\n');
    out.push(...lines.slice(0, maxLines));
    if (lines.length > maxLines) out.push(colors.dim(`… ${lines.length - maxLines} more lines`));
    if (g.similar)
      for (const v of g.variants)
        out.push(colors.dim(colors.show(`  ${v.hosts}: ${v.differences.join(', ')}`)));
  }
  return out;
}

/** Hosts that did not succeed, by status and kind; hosts that said the same thing share a line. */
function renderFailures(hosts: readonly HostResult<unknown>[], colors: Palette): string[] {
  const out: string[] = [];
  for (const kind of gatherFailures(hosts)) {
    const paint = kind.status === 'skipped' ? colors.warn : colors.fail;
    out.push(paint(`${kind.key}: ${colors.show(kind.hosts)} (${kind.count})`));
    for (const [i, m] of kind.messages.entries()) {
      if (i === 10) {
        out.push(colors.dim(`  … and ${kind.messages.length - 10} more messages`));
        break;
      }
      out.push(`  ${colors.host(colors.show(m.hosts))}: ${colors.show(m.key).split('\n').join('\n    ')}`);
    }
  }
  return out;
}

export function summaryLine(report: FleetReport<unknown>, colors: Palette, interrupted: boolean): string {
  const c = report.counts;
  const parts: string[] = [];
  parts.push(colors.ok(`${c.ok} ok`));
  if (c.failed) parts.push(colors.fail(`${c.failed} failed`));
  if (c.timeout) parts.push(colors.fail(`${c.timeout} timed out`));
  if (c.unreachable) parts.push(colors.fail(`${c.unreachable} unreachable`));
  if (c.skipped) parts.push(colors.warn(`${c.skipped} skipped`));
  const d = report.durations;
  const timing = c.total > c.skipped ? ` (per host: p50 ${formatMs(d.p50)}, max ${formatMs(d.max)})` : '';
  const head = interrupted ? colors.warn('interrupted: ') : '';
  return `${head}${c.total} host${c.total === 1 ? '' : 's'}: ${parts.join(', ')} in ${formatMs(report.wallMs)}${timing}`;
}
