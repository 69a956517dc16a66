// A past run's rows back into the report a live run gives (a FleetReport, or a RollingReport with
// its phases and batches), so `fleetsh show` prints it with the same renderer. A host the
// controller had in flight when it died has no outcome: it is shown failed with kind `cancelled`
// and says it was interrupted; a host never started is skipped.
import type { Attempt, HostResult, HostStatus } from '../fleet/host-result.js';
import { FleetReport } from '../fleet/report.js';
import { RollingReport, type BatchRecord, type PhaseRecord } from '../fleet/rolling-report.js';

export interface AttemptRow {
  run_id: number;
  phase: number;
  host: string;
  session: number;
  attempt: number;
  status: string;
  kind: string | null;
  error: string | null;
  duration_ms: number;
  retry_in_ms: number | null;
}

export interface BatchRow {
  phase: number;
  number: number;
  hosts: string;
  state: string;
  started_at: string;
  ended_at: string | null;
  wall_ms: number | null;
}

export interface RunRow {
  id: number;
  kind: string;
  label: string | null;
  selection: string | null;
  hosts: string;
  options: string;
  resume: string | null;
  user: string | null;
  controller: string | null;
  pid: number | null;
  started_at: string;
  ended_at: string | null;
  outcome: string | null;
  stopped: string | null;
  wall_ms: number | null;
  output_dir: string | null;
  sessions: number;
}

export interface HostRow {
  run_id: number;
  host: string;
  written: string;
  idx: number;
  phase: number;
  batch: number | null;
  status: string;
  kind: string | null;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  reason: string | null;
  stdout: string | null;
  stderr: string | null;
  truncated: number;
  duration_ms: number | null;
  session: number | null;
  started_at: string | null;
  ended_at: string | null;
  value: string | null;
}

/** What a host in flight at the controller's death is said to be. */
export function interruptedText(live: boolean): string {
  return live
    ? 'running now (its run is not finished)'
    : 'interrupted: fleetsh stopped while this host ran; its outcome is unknown (fleetsh resume decides)';
}

export function hostResult(
  row: HostRow,
  attempts: readonly AttemptRow[],
  live: boolean,
): HostResult<unknown> {
  const base = {
    host: row.host,
    index: row.idx,
    exitCode: row.exit_code,
    signal: row.signal,
    stdout: row.stdout === null ? null : String(row.stdout),
    stderr: row.stderr === null ? null : String(row.stderr),
    truncated: row.truncated === 1,
    attempts: attempts.map((a): Attempt => ({
      attempt: a.attempt,
      status: a.status as Attempt['status'],
      kind: a.kind as Attempt['kind'],
      error: a.error,
      durationMs: a.duration_ms,
      retryInMs: a.retry_in_ms,
    })),
    durationMs: row.duration_ms ?? 0,
    value: row.value === null ? null : (JSON.parse(row.value) as unknown),
  };
  if (row.status === 'running')
    return {
      ...base,
      status: 'failed',
      success: false,
      kind: 'cancelled',
      error: `${row.host}: ${interruptedText(live)}`,
      reason: 'interrupted',
    };
  if (row.status === 'pending')
    return {
      ...base,
      status: 'skipped',
      success: false,
      kind: 'not-reached',
      error: null,
      reason: live ? 'not started yet' : 'not started: the run was interrupted before this host started',
    };
  return {
    ...base,
    status: row.status as HostStatus,
    success: row.status === 'ok',
    kind: row.kind as HostResult['kind'],
    error: row.error,
    reason: row.reason,
  };
}

export function readRun(
  row: RunRow,
  hosts: readonly HostRow[],
  attempts: readonly AttemptRow[],
  phases: readonly { number: number; name: string; state: string }[],
  batches: readonly BatchRow[],
  live: boolean,
): FleetReport<unknown> | RollingReport {
  const byHost = new Map<string, AttemptRow[]>();
  for (const a of attempts) {
    const key = `${a.phase}\0${a.host}`;
    byHost.set(key, [...(byHost.get(key) ?? []), a]);
  }
  const result = (h: HostRow) => hostResult(h, byHost.get(`${h.phase}\0${h.host}`) ?? [], live);
  const stopped =
    row.stopped ??
    (row.ended_at === null
      ? live
        ? null
        : 'interrupted: the controller stopped before the run ended'
      : row.outcome === 'interrupted'
        ? 'interrupted'
        : null);
  const wallMs =
    row.wall_ms ??
    Math.max(0, Date.parse(row.ended_at ?? new Date().toISOString()) - Date.parse(row.started_at));
  const meta = (wall: number) => ({
    command: row.label,
    startedAt: new Date(row.started_at),
    wallMs: wall,
    stopped,
    peakConcurrency: 0,
  });
  if (row.kind !== 'rolling') return new FleetReport(hosts.map(result), meta(wallMs));

  const records: PhaseRecord[] = phases.map((p) => {
    const phaseHosts = hosts.filter((h) => h.phase === p.number);
    const phaseBatches = batches.filter((b) => b.phase === p.number);
    const batchRecords: BatchRecord[] = phaseBatches.map((b) => {
      const inBatch = phaseHosts.filter((h) => h.batch === b.number);
      return {
        phase: p.name,
        number: b.number,
        hosts: b.hosts,
        hostList: inBatch.map((h) => h.host),
        report: new FleetReport(
          inBatch.map((h, i) => ({ ...result(h), index: i })),
          meta(b.wall_ms ?? 0),
        ),
      };
    });
    const status: PhaseRecord['status'] =
      p.state === 'done' ? 'done' : p.state === 'not-started' ? 'not-started' : 'stopped';
    return {
      name: p.name,
      status,
      batches: batchRecords,
      report: new FleetReport(
        phaseHosts.map(result),
        meta(batchRecords.reduce((n, b) => n + b.report.wallMs, 0)),
      ),
    };
  });
  return new RollingReport(records, stopped, wallMs);
}
