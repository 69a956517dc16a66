// What a fleet report and a rolling report hold, as plain data: the shapes FleetReport and
// RollingReport have and the renderers in src/render/ read. A leaf of types, so that a report's
// toText() can call its renderer while the renderer knows reports only by these shapes (an import
// of report.ts from render/ would be a cycle).
import type { OutputGroup } from './gather.js';
import type { HostResult, HostStatus } from './host-result.js';

export type Counts = Record<'total' | HostStatus, number>;
export type Percentages = Record<HostStatus, number>;
export interface Durations {
  min: number;
  avg: number;
  p50: number;
  p95: number;
  max: number;
}
export type HostSets = Record<HostStatus, string>;

/** A fleet run's report as the renderers read it. */
export interface ReportData {
  readonly hosts: readonly HostResult<unknown>[];
  readonly counts: Counts;
  readonly durations: Durations;
  readonly groups: readonly OutputGroup[];
  readonly wallMs: number;
  /** Why the run stopped early, or null when every host was tried. */
  readonly stopped: string | null;
}

/** A rolling deployment's report as the renderers read it. */
export interface RollingData {
  readonly phases: readonly {
    readonly name: string;
    readonly status: 'done' | 'stopped' | 'not-started';
    readonly batches: readonly {
      readonly number: number;
      readonly hosts: string;
      readonly report: ReportData;
    }[];
    /** Every host of the phase once. */
    readonly report: ReportData;
  }[];
  readonly stopped: string | null;
  readonly done: readonly string[];
  readonly failed: readonly string[];
  readonly notDone: readonly string[];
}
