// What a fleet report and a rolling report hold, as plain data: the shapes FleetReport and
// RollingReport have and the renderers in src/render/ read. Types only: a report's toText() calls
// its renderer, and the renderer knows reports by these shapes alone, never by their code (render/
// imports nothing from fleet/ but types; what needs gathering, the report has gathered).
import type { FailureGroup, OutputGroup } from './gather.js';
import type { HostStatus } from './host-result.js';

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
  /** The hosts that are not ok, gathered by status and kind, then by message. */
  readonly failures: readonly FailureGroup[];
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
