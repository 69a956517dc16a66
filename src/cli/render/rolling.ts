// A rolling deployment for operators: a header as each batch starts, and at the end each batch with
// its counts, then the deployment's hosts gathered like a run, the reason it stopped, and a summary.
// Host sets are the library's, already folded; host names and reasons (which can quote a host's
// output) go through colors.show.
import type { FleetReport } from '../../fleet/report.js';
import type { RollingReport } from '../../fleet/rolling.js';
import type { Palette } from '../color.js';
import { renderSummary } from './summary.js';
import type { Terminal } from './terminal.js';

export interface RollingSource {
  on(event: 'rolling:batch', listener: (e: { phase: string; batch: number; hosts: string }) => void): unknown;
  on(event: 'rolling:stop', listener: (e: { reason: string }) => void): unknown;
}

export function rollingHeaders(job: RollingSource, term: Terminal, colors: Palette): void {
  job.on('rolling:batch', ({ batch, hosts }) =>
    term.out(colors.bold(`== batch ${batch}: ${colors.show(hosts)}`) + '\n'),
  );
  job.on('rolling:stop', ({ reason }) => term.out(colors.fail(`== stopping: ${colors.show(reason)}`) + '\n'));
}

export function renderRolling(
  report: RollingReport,
  colors: Palette,
  opts: { groups: boolean; interrupted: boolean },
): string {
  const out: string[] = [];
  for (const phase of report.phases) {
    if (report.phases.length > 1) out.push(colors.bold(`phase ${colors.show(phase.name)}: ${phase.status}`));
    for (const b of phase.batches)
      out.push(`batch ${b.number}: ${colors.show(b.hosts)}: ${batchCounts(b.report, colors)}`);
  }
  const all = report.phases.length === 1 ? report.phases[0]!.report : undefined;
  if (all) out.push(renderSummary(all, colors, opts).trimEnd());
  else for (const p of report.phases) out.push(renderSummary(p.report, colors, opts).trimEnd());
  const done = `${report.done.length} deployed, ${report.failed.length} failed, ${report.notDone.length} not started`;
  if (report.stopped) out.push(colors.fail(`deployment stopped: ${done}`));
  else out.push(colors.ok(`deployment complete: ${done}`));
  return out.join('\n') + '\n';
}

function batchCounts(report: FleetReport<unknown>, colors: Palette): string {
  const c = report.counts;
  const bad = c.total - c.ok;
  return `${colors.ok(`${c.ok} ok`)}${bad ? `, ${colors.fail(`${bad} not ok`)}` : ''}`;
}
