// The end of a run for operators: the report's output groups (identical outputs with the host set
// that printed them), the hosts that did not succeed listed by kind, and a one-line summary. The
// grouping and counting are the report's; this only lays them out. Outputs, messages and host
// names go through colors.show before any colour.
import { formatMs } from '../../process/errors.js';
import type { HostResult } from '../../fleet/host-result.js';
import type { FleetReport } from '../../fleet/report.js';
import { fold } from '../../inventory/fold.js';
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
      colors.bold(`${colors.show(fold(g.hostList))} (${g.count})${g.similar ? ' similar' : ''}`),
      colors.dim(rule),
    );
    const lines = g.output === '' ? [colors.dim('(no output)')] : colors.show(g.output).split('\n');
    out.push(...lines.slice(0, maxLines));
    if (lines.length > maxLines) out.push(colors.dim(`… ${lines.length - maxLines} more lines`));
    if (g.similar)
      for (const v of g.variants)
        out.push(colors.dim(colors.show(`  ${fold(v.hostList)}: ${v.differences.join(', ')}`)));
  }
  return out;
}

/** Hosts that did not succeed, by status and kind; hosts with the same message (but for the host name) share a line. */
function renderFailures(hosts: readonly HostResult<unknown>[], colors: Palette): string[] {
  const bad = hosts.filter((h) => h.status !== 'ok');
  if (bad.length === 0) return [];
  const byKind = new Map<string, HostResult<unknown>[]>();
  for (const h of bad) {
    const key = h.kind && h.kind !== h.status ? `${h.status} (${h.kind})` : h.status;
    byKind.set(key, [...(byKind.get(key) ?? []), h]);
  }
  const out: string[] = [];
  for (const [kind, list] of byKind) {
    const paint = kind.startsWith('skipped') ? colors.warn : colors.fail;
    out.push(paint(`${kind}: ${colors.show(fold(list.map((h) => h.host)))} (${list.length})`));
    const byMessage = new Map<string, string[]>();
    for (const h of list) {
      const message = describe(h);
      byMessage.set(message, [...(byMessage.get(message) ?? []), h.host]);
    }
    let shown = 0;
    for (const [message, names] of byMessage) {
      if (shown++ === 10) {
        out.push(colors.dim(`  … and ${byMessage.size - 10} more messages`));
        break;
      }
      out.push(
        `  ${colors.host(colors.show(fold(names)))}: ${colors.show(message).split('\n').join('\n    ')}`,
      );
    }
  }
  return out;
}

/** The host's error without its own name in front, so identical failures group. */
function describe(h: HostResult<unknown>): string {
  const text = h.status === 'skipped' ? (h.reason ?? 'skipped') : (h.error ?? h.reason ?? h.status);
  const lines = text.split('\n');
  const first = lines[0]!.startsWith(`${h.host}: `) ? lines[0]!.slice(h.host.length + 2) : lines[0]!;
  // Keep the stderr tail of a failed command, at most three lines: it usually says why.
  const tail = lines.slice(1).filter((l) => l.trim() !== '' && !/^stderr \(last lines\):$/.test(l));
  return [first, ...tail.slice(-3)].join('\n');
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
