// The report of a fleet run: every host once, counts and percentages, durations, output groups,
// host sets, JSON with every field present, and a text rendering for operators (through printable:
// the hosts' bytes stay exact in `hosts` and JSON, but never reach a terminal raw).
import { formatMs } from '../process/errors.js';
import { printable } from '../process/printable.js';
import { gather, type OutputGroup } from './gather.js';
import { withoutHostName, type HostResult, type HostStatus } from './host-result.js';
import { foldHosts } from './hostset.js';

export type Counts = Record<'total' | Exclude<HostStatus, never>, number>;
export type Percentages = Record<HostStatus, number>;
export interface Durations {
  min: number;
  avg: number;
  p50: number;
  p95: number;
  max: number;
}
export type HostSets = Record<HostStatus, string>;

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

export class FleetReport<T = unknown> {
  /** Every host exactly once, in target order. */
  readonly hosts: HostResult<T>[];
  readonly counts: Counts;
  /** Percent of the total, one decimal. */
  readonly percentages: Percentages;
  /** Over hosts that ran (skipped ones excluded). */
  readonly durations: Durations;
  /** Identical and near-identical stdout, largest group first. */
  readonly groups: OutputGroup[];
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
        .map((h) => ({ host: h.host, output: h.stdout!.replace(/\n$/, '') })),
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
    throw new Error(
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

  /** The operator's summary, like the seed's report, with output groups and failures by kind. */
  toText(options: { groups?: boolean; maxGroupLines?: number } = {}): string {
    const c = this.counts;
    const p = this.percentages;
    const d = this.durations;
    const out: string[] = [];
    out.push('Batch Execution Report');
    out.push('======================');
    if (this.command) out.push(`Command: ${this.command}`);
    out.push(`Total servers: ${c.total} in ${formatMs(this.wallMs)}`);
    out.push(`Successful: ${c.ok} (${p.ok.toFixed(1)}%)${c.ok ? `  ${this.sets.ok}` : ''}`);
    const failedTotal = c.failed + c.timeout + c.unreachable;
    out.push(`Failed: ${failedTotal} (${(p.failed + p.timeout + p.unreachable).toFixed(1)}%)`);
    for (const s of ['failed', 'timeout', 'unreachable', 'skipped'] as const) {
      if (c[s] > 0) out.push(`  ${s}: ${c[s]} (${p[s].toFixed(1)}%)  ${this.sets[s]}`);
    }
    out.push(`Average duration: ${d.avg}ms (min ${d.min}, p50 ${d.p50}, p95 ${d.p95}, max ${d.max})`);
    if (this.stopped) out.push(`Stopped early: ${this.stopped}`);
    if (options.groups !== false && this.groups.length > 0) {
      const maxLines = options.maxGroupLines ?? 20;
      out.push('', 'Output:');
      for (const g of this.groups) {
        out.push(`---------------- ${g.hosts} (${g.count})${g.similar ? ' [similar]' : ''}`);
        const lines = g.output === '' ? ['(no output)'] : g.output.split('\n');
        out.push(...lines.slice(0, maxLines).map((l) => `  ${l}`));
        if (lines.length > maxLines) out.push(`  … ${lines.length - maxLines} more lines`);
        for (const v of g.variants) out.push(`    ${v.hosts}: ${v.differences.join(', ')}`);
      }
    }
    const bad = this.hosts.filter((h) => h.status !== 'ok' && h.status !== 'skipped');
    if (bad.length > 0) {
      out.push('', 'Failed Servers:');
      const byKind = new Map<string, HostResult<T>[]>();
      for (const h of bad) {
        const key = `${h.status}${h.kind && h.kind !== h.status ? ` (${h.kind})` : ''}`;
        byKind.set(key, [...(byKind.get(key) ?? []), h]);
      }
      for (const [kind, hosts] of byKind) {
        out.push(`  ${kind}: ${foldHosts(hosts.map((h) => h.host))}`);
        for (const h of hosts.slice(0, 20))
          out.push(`    ${h.host}: ${withoutHostName(h.host, firstLine(h.error ?? h.reason))}`);
        if (hosts.length > 20) out.push(`    … and ${hosts.length - 20} more`);
      }
    }
    const skipped = this.hosts.filter((h) => h.status === 'skipped');
    if (skipped.length > 0) {
      out.push('', `Skipped: ${foldHosts(skipped.map((h) => h.host))}: ${skipped[0]!.reason}`);
    }
    // The text holds no escapes of its own, so the whole of it is made printable at once.
    return printable(out.join('\n'));
  }

  toString(): string {
    return this.toText();
  }
}

function firstLine(text: string | null): string {
  if (!text) return '';
  return text.split('\n')[0]!;
}
