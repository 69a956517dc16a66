// Recording one run as it happens, from the events the fleet engine emits (the engine knows
// nothing of the journal). Every host has a row before anything starts; the row says `running`
// before the host starts and holds its result once it ends, each write committed on its own, so a
// controller killed at any moment leaves every finished result behind and names the hosts it had in
// flight. A write that fails (disk full) warns once and stops the recording, never the run.
import { hostname, userInfo } from 'node:os';
import type { FleetRun } from '../fleet/run.js';
import type { HostResult } from '../fleet/host-result.js';
import type { RollingRun } from '../fleet/rolling.js';
import type { Database, Statement } from './sqlite.js';

export interface RunMeta {
  /** run, script, copy, pull, rolling, fleet (a library run). */
  kind: string;
  /** The command or operation, for people. */
  label: string | null;
  /** The host set as the operator gave it, or null. */
  selection?: string | null;
  /** Every host: its name in the report and as the selection wrote it; `phase` for a rolling deployment's phases. */
  hosts: readonly { name: string; written?: string; phase?: number }[];
  /** The phases' names, for a rolling deployment. */
  phases?: readonly string[];
  /** The options, without secrets (the caller leaves them out; see options.ts). */
  options: object;
  /** What a resume needs (the CLI's command and flags), or null when the run cannot be resumed. */
  resume?: object | null;
  outputDir?: string | null;
}

export type Outcome = 'ok' | 'failed' | 'stopped' | 'interrupted';

const now = () => new Date().toISOString();

export class RunWriter {
  readonly id: number;
  readonly session: number;
  readonly #db: Database;
  readonly #s: Record<string, Statement>;
  #failed = false;
  /** Phase number by name, for a rolling deployment's events. */
  #phases = new Map<string, number>();

  private constructor(db: Database, id: number, session: number, phases: readonly string[]) {
    this.#db = db;
    this.id = id;
    this.session = session;
    phases.forEach((p, i) => this.#phases.set(p, i));
    this.#s = {
      start: db.prepare(
        `UPDATE hosts SET status = 'running', session = ?, started_at = ?, batch = coalesce(?, batch),
           kind = NULL, error = NULL, reason = NULL
         WHERE run_id = ? AND phase = ? AND host = ?`,
      ),
      end: db.prepare(
        `UPDATE hosts SET status = ?, kind = ?, exit_code = ?, signal = ?, error = ?, reason = ?, stdout = ?,
           stderr = ?, truncated = ?, duration_ms = ?, value = ?, session = ?, ended_at = ?,
           batch = coalesce(?, batch)
         WHERE run_id = ? AND phase = ? AND host = ?`,
      ),
      attempt: db.prepare(
        `INSERT OR REPLACE INTO attempts (run_id, phase, host, session, attempt, status, kind, error, duration_ms, retry_in_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      phase: db.prepare(
        `INSERT INTO phases (run_id, number, name, state) VALUES (?, ?, ?, ?)
         ON CONFLICT (run_id, number) DO UPDATE SET state = excluded.state`,
      ),
      batchStart: db.prepare(
        `INSERT INTO batches (run_id, phase, number, hosts, state, started_at) VALUES (?, ?, ?, ?, 'running', ?)
         ON CONFLICT (run_id, phase, number) DO UPDATE SET state = 'running', hosts = excluded.hosts`,
      ),
      batchEnd: db.prepare(
        `UPDATE batches SET state = 'done', ended_at = ?, wall_ms = coalesce(wall_ms, 0) + ?
         WHERE run_id = ? AND phase = ? AND number = ?`,
      ),
    };
  }

  static start(db: Database, meta: RunMeta): RunWriter {
    const phases = meta.phases ?? [];
    const id = db
      .transaction(() => {
        const info = db
          .prepare(
            `INSERT INTO runs (kind, label, selection, hosts, options, resume, user, controller, pid, started_at, output_dir)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            meta.kind,
            meta.label,
            meta.selection ?? null,
            JSON.stringify(meta.hosts.map((h) => h.written ?? h.name)),
            JSON.stringify(meta.options),
            meta.resume ? JSON.stringify(meta.resume) : null,
            currentUser(),
            hostname(),
            process.pid,
            now(),
            meta.outputDir ?? null,
          );
        const runId = Number(info.lastInsertRowid);
        const host = db.prepare(
          `INSERT OR IGNORE INTO hosts (run_id, host, written, idx, phase, status) VALUES (?, ?, ?, ?, ?, 'pending')`,
        );
        meta.hosts.forEach((h, i) => host.run(runId, h.name, h.written ?? h.name, i, h.phase ?? 0));
        const phase = db.prepare(
          `INSERT INTO phases (run_id, number, name, state) VALUES (?, ?, ?, 'not-started')`,
        );
        phases.forEach((p, i) => phase.run(runId, i, p));
        return runId;
      })
      .immediate();
    return new RunWriter(db, id, 1, phases);
  }

  static resume(db: Database, id: number): RunWriter {
    const session = db
      .transaction(() => {
        db.prepare(
          `UPDATE runs SET sessions = sessions + 1, pid = ?, controller = ?, ended_at = NULL, outcome = NULL WHERE id = ?`,
        ).run(process.pid, hostname(), id);
        return (db.prepare(`SELECT sessions FROM runs WHERE id = ?`).get(id) as { sessions: number })
          .sessions;
      })
      .immediate();
    const phases = db.prepare(`SELECT name FROM phases WHERE run_id = ? ORDER BY number`).all(id) as {
      name: string;
    }[];
    return new RunWriter(
      db,
      id,
      session,
      phases.map((p) => p.name),
    );
  }

  /** Records the fleet run's hosts as they start and end (`phase`/`batch` for a rolling batch). */
  attachFleet(run: FleetRun<any>, where: { phase?: number; batch?: number } = {}): void {
    const phase = where.phase ?? 0;
    const batch = where.batch ?? null;
    run.on('server:start', (p) => {
      if (p.attempt === 1)
        this.#write(() => this.#s.start!.run(this.session, now(), batch, this.id, phase, p.server));
    });
    const end = (p: { host: HostResult<unknown> }) => this.hostEnd(p.host, phase, batch);
    run.on('server:success', end);
    run.on('server:error', end);
    run.on('server:skipped', end);
  }

  /** Records a rolling deployment: its phases and batches with their state, and each batch's hosts. */
  attachRolling(run: RollingRun): void {
    run.on('rolling:phase', (p) =>
      this.#write(() => this.#s.phase!.run(this.id, this.#phase(p.phase), p.phase, 'running')),
    );
    run.on('rolling:batch', (p) => {
      const phase = this.#phase(p.phase);
      this.#write(() => this.#s.batchStart!.run(this.id, phase, p.batch, p.hosts, now()));
      this.attachFleet(p.run, { phase, batch: p.batch });
    });
    run.on('rolling:batch-done', (p) => {
      const phase = this.#phase(p.phase);
      // The batch's last word: a health check run on the whole batch after it may fail a host.
      this.#write(() =>
        this.#db.transaction(() => {
          for (const h of p.report.hosts) this.hostEnd(h, phase, p.batch, false);
          this.#s.batchEnd!.run(now(), p.report.wallMs, this.id, phase, p.batch);
        })(),
      );
    });
    run.on('rolling:complete', (p) =>
      this.#write(() =>
        this.#db.transaction(() => {
          p.report.phases.forEach((ph, i) => this.#s.phase!.run(this.id, i, ph.name, ph.status));
        })(),
      ),
    );
  }

  /** A host's result (its attempts too). */
  hostEnd(h: HostResult<unknown>, phase = 0, batch: number | null = null, attempts = true): void {
    // The result and its attempts in one commit: one WAL append per host instead of one per row.
    this.#write(() => this.#hostEnd(h, phase, batch, attempts));
  }

  readonly #hostEnd = (h: HostResult<unknown>, phase: number, batch: number | null, attempts: boolean) =>
    this.#db.transaction(() => {
      this.#s.end!.run(
        h.status,
        h.kind,
        h.exitCode,
        h.signal,
        h.error,
        h.reason,
        h.stdout,
        h.stderr,
        h.truncated ? 1 : 0,
        h.durationMs,
        plainJson(h.value),
        this.session,
        now(),
        batch,
        this.id,
        phase,
        h.host,
      );
      if (attempts)
        for (const a of h.attempts)
          this.#s.attempt!.run(
            this.id,
            phase,
            h.host,
            this.session,
            a.attempt,
            a.status,
            a.kind,
            a.error,
            a.durationMs,
            a.retryInMs,
          );
    })();

  /** The run's end (this session's): a later resume may start another. */
  finish(outcome: Outcome, report?: { stopped: string | null; wallMs: number }): void {
    this.#write(() =>
      this.#db
        .prepare(
          `UPDATE runs SET ended_at = ?, outcome = ?, stopped = ?, wall_ms = coalesce(wall_ms, 0) + ? WHERE id = ?`,
        )
        .run(now(), outcome, report?.stopped ?? null, report?.wallMs ?? 0, this.id),
    );
    // The run's pages from the WAL into the file (see journal.ts), once whoever awaited the run has
    // its report: the sync no longer holds up the run's end. PASSIVE: it never waits for another
    // process's readers or writers; what it leaves, a later run's end takes.
    setImmediate(() => {
      if (this.#db.open) this.#write(() => this.#db.pragma('wal_checkpoint(PASSIVE)'));
    });
  }

  /** False once a write failed (the warning was given). */
  get recording(): boolean {
    return !this.#failed;
  }

  #phase(name: string): number {
    return this.#phases.get(name) ?? 0;
  }

  #write(fn: () => unknown): void {
    if (this.#failed) return;
    try {
      fn();
    } catch (e) {
      this.#failed = true;
      process.stderr.write(
        `fleetsh: warning: the journal stopped recording run ${this.id}: ${(e as Error).message}\n`,
      );
    }
  }
}

/** Who runs this: the login name, without failing where there is no passwd entry. */
export function currentUser(): string | null {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? null;
  }
}

/** A task's value as JSON when it is plain data (a CommandResult's output is in stdout already). */
function plainJson(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}
