// The end of `fleetsh copy` and `fleetsh pull`, a view the CLI chooses (an upload, a configuration
// sync or a download): hosts gathered by what happened to the file (copied, unchanged, updated with
// a backup, restored after a failed validation, pulled with its checksum), then the run's failures
// and summary line as reportText lays them out. Host names and remote paths go through colors.show.
import type { SyncOutcome } from '../../fleet/config-sync.js';
import type { TransferOutcome } from '../../fleet/files.js';
import { groupHosts } from '../../fleet/gather.js';
import type { FleetReport } from '../../fleet/report.js';
import type { Palette } from '../../render/palette.js';
import { reportText, type ReportTextOptions } from '../../render/report-text.js';

type Outcome = TransferOutcome | SyncOutcome;

/** The copy (or, with `pulled`, the pull of that remote path) as lines of text, without a final newline. */
export function copyText(
  report: FleetReport<unknown>,
  colors: Palette,
  options: ReportTextOptions & { pulled?: string } = {},
): string {
  const done = groupHosts(
    report.hosts
      .filter((h) => h.status === 'ok' && h.value !== null)
      .map((h) => ({
        host: h.host,
        key:
          options.pulled === undefined
            ? describe(h.value as Outcome)
            : describePull(h.value as TransferOutcome, options.pulled),
      })),
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

/**
 * A pull by what a host gave: a file by its size and checksum, a tree by its file count and bytes
 * (local paths hold the host's name, so they are left out: hosts with the same file share a group).
 */
function describePull(v: TransferOutcome, remote: string): string {
  const f = v.files;
  if (f.length === 1 && f[0]!.remote === remote)
    return `pulled ${remote} (${f[0]!.bytes} bytes, sha256 ${f[0]!.sha256.slice(0, 12)}, verified)`;
  const left = v.skipped?.length ? `; ${v.skipped.length} left out (links to folders, special files)` : '';
  return `pulled ${remote}: ${f.length} file${f.length === 1 ? '' : 's'}, ${v.bytes} bytes, each verified${left}`;
}
