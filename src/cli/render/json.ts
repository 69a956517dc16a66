// --json: one document at the end, the report's own JSON plus how fleetsh ended.
import type { FleetReport } from '../../fleet/report.js';

export function renderJson(
  report: FleetReport<unknown>,
  extra: { exitCode: number; interrupted: boolean },
): string {
  return (
    JSON.stringify(
      { ...report.toJSON(), interrupted: extra.interrupted, exitCode: extra.exitCode },
      null,
      2,
    ) + '\n'
  );
}
