// The end of `fleetsh copy`, a view the CLI chooses (an upload or a configuration sync): hosts gathered by what happened
// to the file (copied, unchanged, updated with a backup, restored after a failed validation), then
// the run's failures and summary line as reportText lays them out. Host names and remote paths go
// through colors.show.
import type { SyncOutcome } from '../../fleet/config-sync.js';
import type { TransferOutcome } from '../../fleet/files.js';
import { groupHosts } from '../../fleet/gather.js';
import type { FleetReport } from '../../fleet/report.js';
import type { Palette } from '../../render/palette.js';
import { reportText, type ReportTextOptions } from '../../render/report-text.js';

type Outcome = TransferOutcome | SyncOutcome;

/** The copy as lines of text, without a final newline. */
export function copyText(report: FleetReport<unknown>, colors: Palette, options: ReportTextOptions = {}): string {
  const done = groupHosts(
    report.hosts
      .filter((h) => h.status === 'ok' && h.value !== null)
      .map((h) => ({ host: h.host, key: describe(h.value as Outcome) })),
  );
  const out = done.map((g) => `${colors.host(colors.show(g.hosts))} (${g.count}): ${colors.show(g.key)}`);
  out.push(reportText(report, colors, { ...options, groups: false }));
  return out.join('\n');
}

function describe(v: Outcome): string {
  if ('changed' in v) {
    const files = v.files
      .map((f) => `${f.remote} ${f.status}${f.backup ? ` (backup ${f.backup})` : ''}`)
      .join(', ');
    const steps = [v.validated ? 'validated' : '', v.reloaded ? 'reloaded' : ''].filter(Boolean).join(', ');
    return steps ? `${files}; ${steps}` : files;
  }
  const f = v.files;
  if (f.length === 1)
    return `copied ${f[0]!.remote} (${f[0]!.bytes} bytes, sha256 ${f[0]!.sha256.slice(0, 12)}${f[0]!.verified ? ', verified' : ''})`;
  return `copied ${f.length} files (${v.bytes} bytes)`;
}
