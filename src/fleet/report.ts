// The report of a fleet run: every host once, counts and percentages, durations, output groups,
// host sets, JSON with every field present. Its text is drawn by src/render/report-text.ts, the
// rendering the CLI prints too: the report gathers, the renderer lays out (hosts' bytes stay exact
// in `hosts` and JSON, and reach a terminal only through printable).
import { FleetshError, formatMs } from '../process/errors.js';
import { printable } from '../process/printable.js';
import { plain } from '../render/palette.js';
import { reportText, type ReportTextOptions } from '../render/report-text.js';
import { gather, gatherFailures, type FailureGroup, type OutputGroup } from './gather.js';
import { withoutHostName, type HostResult, type HostStatus } from './host-result.js';
import { foldHosts } from './hostset.js';
import type { Counts, Durations, HostSets, Percentages, ReportData } from './report-data.js';

export type { Counts, Durations, HostSets, Percentages } from './report-data.js';

export interface ReportMeta {
  command: string | null;
  startedAt: Date;
  wallMs: number;
  /** Why the run stopped early, or null when every host was tried. */
  stopped: string | null;
  peakConcurrency: number;
}

const STATUSES: HostStatus[] = ['ok', 'failed', 'timeout', 'unreachable', 'skipped'];

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function durationsOf(values: readonly number[]): Durations {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return { min: 0, avg: 0, p50: 0, p95: 0, max: 0 };
  const avg = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return {
    min: sorted[0]!,
    avg: Math.round(avg),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    max: sorted[sorted.length - 1]!,
  };
}

export class FleetReport<T = unknown> implements ReportData {
  /** Every host exactly once, in target order. */
  readonly hosts: HostResult<T>[];
  readonly counts: Counts;
  /** Percent of the total, one decimal. */
  readonly percentages: Percentages;
  /** Over hosts that ran (skipped ones excluded). */
  readonly durations: Durations;
  /** Identical and near-identical stdout, largest group first. */
  readonly groups: OutputGroup[];
  #failures: FailureGroup[] | undefined;
  readonly sets: HostSets;
  readonly command: string | null;
  readonly startedAt: Date;
  readonly wallMs: number;
  readonly stopped: string | null;
  readonly peakConcurrency: number;

  constructor(hosts: HostResult<T>[], meta: ReportMeta) {
    this.hosts = [...hosts].sort((a, b) => a.index - b.index);
    const counts = { total: this.hosts.length } as Counts;
    const percentages = {} as Percentages;
    const sets = {} as HostSets;
    for (const s of STATUSES) {
      const names = this.hosts.filter((h) => h.status === s).map((h) => h.host);
      counts[s] = names.length;
      percentages[s] =
        this.hosts.length === 0 ? 0 : Math.round((names.length / this.hosts.length) * 1000) / 10;
      sets[s] = foldHosts(names);
    }
    this.counts = counts;
    this.percentages = percentages;
    this.sets = sets;
    this.durations = durationsOf(this.hosts.filter((h) => h.status !== 'skipped').map((h) => h.durationMs));
    this.groups = gather(
      this.hosts
        .filter((h) => h.stdout !== null)
        .map((h) => ({ host: h.host, output: withoutLineEnd(h.stdout!), truncated: h.truncated })),
    );
    this.command = meta.command;
    this.startedAt = meta.startedAt;
    this.wallMs = meta.wallMs;
    this.stopped = meta.stopped;
    this.peakConcurrency = meta.peakConcurrency;
  }

  /** True when every host is ok. */
  get ok(): boolean {
    return this.counts.ok === this.counts.total;
  }

  /** The hosts with a given status. */
  byStatus(status: HostStatus): HostResult<T>[] {
    return this.hosts.filter((h) => h.status === status);
  }

  /** The hosts that are not ok, by status and kind, then by what they said (folded host sets). */
  get failures(): readonly FailureGroup[] {
    return (this.#failures ??= gatherFailures(this.hosts));
  }

  /** Throws a summary error unless every host is ok: for scripts that want fail-or-continue. */
  throwIfFailed(): this {
    if (this.ok) return this;
    const bad = this.hosts.filter((h) => h.status !== 'ok');
    const lines = bad
      .slice(0, 10)
      .map(
        (h) =>
          `  ${h.host}: ${h.status}${h.kind ? ` (${h.kind})` : ''}: ${withoutHostName(h.host, firstLine(h.error ?? h.reason))}`,
      );
    const more = bad.length > 10 ? `\n  … and ${bad.length - 10} more` : '';
    throw new FleetFailedError(
      this,
      printable(`${bad.length} of ${this.counts.total} hosts did not succeed:\n${lines.join('\n')}${more}`),
    );
  }

  toJSON() {
    return {
      command: this.command,
      startedAt: this.startedAt.toISOString(),
      wallMs: this.wallMs,
      stopped: this.stopped,
      peakConcurrency: this.peakConcurrency,
      counts: this.counts,
      percentages: this.percentages,
      durations: this.durations,
      sets: this.sets,
      groups: this.groups.map((g) => ({ ...g, variants: g.variants.map((v) => ({ ...v })) })),
      hosts: this.hosts.map((h) => ({
        ...h,
        attempts: h.attempts.map((a) => ({ ...a })),
        value: h.value ?? null,
      })),
    };
  }

  /**
   * The operator's summary, as the CLI prints it without colours: the output groups, the hosts that
   * did not succeed by kind and message, why the run stopped early, and a one-line summary.
   */
  toText(options: Pick<ReportTextOptions, 'groups' | 'maxGroupLines' | 'maxGroupChars'> = {}): string {
    return reportText(this, plain, options);
  }

  toString(): string {
    return this.toText();
  }
}

/**
 * One line end off (CRLF from a pseudo-terminal too), by slice: V8 makes a slice of a long string
 * a view of it, where a replace() would copy the whole output.
 */
function withoutLineEnd(text: string): string {
  if (!text.endsWith('\n')) return text;
  return text.slice(0, text.endsWith('\r\n') ? -2 : -1);
}

function firstLine(text: string | null): string {
  if (!text) return '';
  return text.split('\n')[0]!;
}
/** `report.throwIfFailed()` found hosts that did not succeed: the report says which and why. */
export class FleetFailedError extends FleetshError {
  readonly report: FleetReport<unknown>;
  constructor(report: FleetReport<unknown>, message: string) {
    super('failed', message);
    this.report = report;
  }
}
