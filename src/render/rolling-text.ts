// The end of a rolling deployment for operators, the one rendering of it: each batch with its
// counts, the deployment's hosts laid out as a run's report (outputs, failures, why it stopped),
// and what was deployed, failed and never started. The CLI prints it and RollingReport.toText()
// returns it (plain). With several phases, each phase is named above its batches and its report.
import type { ReportData, RollingData } from '../fleet/report-data.js';
import type { Palette } from './palette.js';
import { reportText, type ReportTextOptions } from './report-text.js';

/** The deployment as lines of text, without a final newline. */
export function rollingText(report: RollingData, colors: Palette, options: ReportTextOptions = {}): string {
  const out: string[] = [];
  for (const phase of report.phases) {
    if (report.phases.length > 1) out.push(colors.bold(`phase ${colors.show(phase.name)}: ${phase.status}`));
    for (const b of phase.batches)
      out.push(`batch ${b.number}: ${colors.show(b.hosts)}: ${batchCounts(b.report, colors)}`);
    out.push(reportText(phase.report, colors, options));
  }
  const done = `${report.done.length} deployed, ${report.failed.length} failed, ${report.notDone.length} not started`;
  out.push(
    report.stopped ? colors.fail(`deployment stopped: ${done}`) : colors.ok(`deployment complete: ${done}`),
  );
  return out.join('\n');
}

function batchCounts(report: ReportData, colors: Palette): string {
  const c = report.counts;
  const bad = c.total - c.ok;
  return `${colors.ok(`${c.ok} ok`)}${bad ? `, ${colors.fail(`${bad} not ok`)}` : ''}`;
}
