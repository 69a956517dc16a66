// The report of a rolling deployment: per phase and batch, what was done, what failed, what was
// never started, and why the deployment stopped.
import { printable } from '../process/printable.js';
import { triedAndNotOk, type HostResult } from './host-result.js';
import { foldHosts } from './hostset.js';
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

export class RollingReport {
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

  toText(): string {
    const out = ['Rolling Deployment Report', '========================='];
    for (const p of this.phases) {
      out.push(`Phase ${p.name}: ${p.status}`);
      for (const b of p.batches) {
        const c = b.report.counts;
        out.push(
          `  batch ${b.number}: ${b.hosts}: ${c.ok} ok${c.total - c.ok ? `, ${c.total - c.ok} not ok` : ''}`,
        );
        for (const h of b.report.hosts.filter((x) => x.status !== 'ok'))
          out.push(`    ${h.host}: ${h.status}: ${(h.error ?? h.reason ?? '').split('\n')[0]}`);
      }
    }
    out.push(`Done: ${foldHosts(this.done) || '(none)'}`);
    if (this.failed.length) out.push(`Failed: ${foldHosts(this.failed)}`);
    if (this.notDone.length) out.push(`Not done: ${foldHosts(this.notDone)}`);
    if (this.stopped) out.push(`Stopped: ${this.stopped}`);
    // Error messages quote the hosts' stderr: shown with its control characters escaped.
    return printable(out.join('\n'));
  }
}
