// The report of a rolling deployment: per phase and batch, what was done, what failed, what was
// never started, and why the deployment stopped. Its text is drawn by src/render/rolling-text.ts,
// the rendering the CLI prints too.
import { plain } from '../render/palette.js';
import { rollingText } from '../render/rolling-text.js';
import { triedAndNotOk, type HostResult } from './host-result.js';
import { foldHosts } from './hostset.js';
import type { RollingData } from './report-data.js';
import type { FleetReport } from './report.js';

export interface BatchRecord {
  phase: string;
  number: number;
  hosts: string;
  hostList: string[];
  report: FleetReport<unknown>;
}

export interface PhaseRecord {
  name: string;
  status: 'done' | 'stopped' | 'not-started';
  batches: BatchRecord[];
  /** Every host of the phase once, untouched ones skipped with the reason. */
  report: FleetReport<unknown>;
}

export class RollingReport implements RollingData {
  constructor(
    readonly phases: PhaseRecord[],
    readonly stopped: string | null,
    readonly wallMs: number,
  ) {}

  get ok(): boolean {
    return this.stopped === null && this.phases.every((p) => p.report.ok);
  }
  #hostsWhere(pred: (h: HostResult) => boolean): string[] {
    return this.phases.flatMap((p) => p.report.hosts.filter(pred).map((h) => h.host));
  }
  /** Hosts where the step (and health check) succeeded. */
  get done(): string[] {
    return this.#hostsWhere((h) => h.status === 'ok');
  }
  /** Hosts that were tried and failed, timed out or were unreachable. */
  get failed(): string[] {
    return this.#hostsWhere((h) => triedAndNotOk(h.status));
  }
  /** Hosts never touched. */
  get notDone(): string[] {
    return this.#hostsWhere((h) => h.status === 'skipped');
  }

  toJSON() {
    return {
      ok: this.ok,
      stopped: this.stopped,
      wallMs: this.wallMs,
      done: foldHosts(this.done),
      failed: foldHosts(this.failed),
      notDone: foldHosts(this.notDone),
      phases: this.phases.map((p) => ({
        name: p.name,
        status: p.status,
        batches: p.batches.map((b) => ({ number: b.number, hosts: b.hosts, counts: b.report.counts })),
        report: p.report.toJSON(),
      })),
    };
  }

  /** What was deployed, failed and never started, batch by batch, as the CLI prints it without colours. */
  toText(): string {
    return rollingText(this, plain);
  }
}
