// The run journal: every run recorded as it happens in one SQLite file (WAL mode), so that after a
// crash the operator knows what ran where, and `fleetsh resume` continues from there. Opening
// checks and migrates the schema (schema.ts); a damaged file, a newer schema or another program's
// database is refused with a way forward, never reset. The writer (writer.ts) records a run; the
// reader (report.ts) turns the rows back into the report a live run gives.
import { mkdirSync } from 'node:fs';
import { hostname, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FleetReport } from '../fleet/report.js';
import type { RollingReport } from '../fleet/rolling-report.js';
import { JournalError, migrate } from './schema.js';
import { loadSqlite, type Database } from './sqlite.js';
import { RunWriter, type RunMeta } from './writer.js';
import { readRun, type AttemptRow, type BatchRow, type HostRow, type RunRow } from './report.js';

export { JournalError } from './schema.js';

/** Host sets a past run names: `@failed`, `12:@ok`, ... */
export const RUN_SETS = ['ok', 'failed', 'unreachable', 'skipped'] as const;
export type RunSet = (typeof RUN_SETS)[number];

/** Where the journal is by default: $XDG_STATE_HOME/fleetsh/journal.db, else ~/.local/state/fleetsh/journal.db. */
export function defaultJournalPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'fleetsh', 'journal.db');
}

/** A run as `fleetsh history` lists it. */
export interface RunSummary {
  id: number;
  kind: string;
  label: string | null;
  selection: string | null;
  user: string | null;
  startedAt: string;
  endedAt: string | null;
  /** ok, failed, stopped, interrupted (Ctrl-C, or the controller died: see `state`). */
  outcome: string | null;
  /** running (its controller is alive), interrupted (it died), or ended. */
  state: 'running' | 'interrupted' | 'ended';
  /** Starts and resumes. */
  sessions: number;
  /** By status; `running` while the controller lives, `interrupted` once it died with hosts in flight. */
  counts: Record<
    'total' | 'ok' | 'failed' | 'timeout' | 'unreachable' | 'skipped' | 'interrupted' | 'running',
    number
  >;
}

export interface OpenJournalOptions {
  /** Open an existing journal only (for reading): a missing file is an error, not a new journal. */
  mustExist?: boolean;
}

const SQLITE_BROKEN = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CANTOPEN', 'SQLITE_IOERR']);

/** Opens (creating it if needed) the journal at `path`. */
export function openJournal(path: string = defaultJournalPath(), options: OpenJournalOptions = {}): Journal {
  return new Journal(path, options);
}

export class Journal {
  readonly path: string;
  readonly #db: Database;

  constructor(path: string, options: OpenJournalOptions = {}) {
    this.path = path;
    const Sqlite = loadSqlite();
    try {
      if (!options.mustExist) mkdirSync(dirname(path), { recursive: true });
      this.#db = new Sqlite(path, { fileMustExist: options.mustExist === true, timeout: 10_000 });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (options.mustExist && code === 'SQLITE_CANTOPEN')
        throw new JournalError(`there is no journal at ${path}: no run has been recorded there`);
      throw new JournalError(`cannot open the journal ${path}: ${(e as Error).message}`, { cause: e });
    }
    try {
      // A damaged file shows itself at the first read of its header: here, not in the middle of a run.
      migrate(this.#db, path, () => {
        walMode(this.#db);
        // WAL with NORMAL: a commit is in the OS's hands before the next event, so a killed fleetsh
        // loses nothing; only a power cut can take the last commits (a sync per row would cost a
        // disk flush per host).
        this.#db.pragma('synchronous = NORMAL');
        // A checkpoint syncs the disk, and better-sqlite3 runs it on the event loop: every
        // connection of a run would wait for it. The default (every 1,000 pages) checkpointed
        // 2-4 times in a 1,000-host run, which then lost 4-9 % of its wall time on a busy disk; here a
        // run's writes stay in the WAL (about 8 KiB a host) and are checkpointed when it ends.
        this.#db.pragma('wal_autocheckpoint = 50000');
        this.#db.pragma('foreign_keys = ON');
      });
    } catch (e) {
      this.#db.close();
      throw broken(e, path);
    }
  }

  /** Records a new run; its hosts are in the journal (pending) before any starts. */
  startRun(meta: RunMeta): RunWriter {
    return this.#guard(() => RunWriter.start(this.#db, meta));
  }

  /** Records a resume of run `id` as part of it: a new session, its hosts' rows updated in place. */
  continueRun(id: number): RunWriter {
    return this.#guard(() => RunWriter.resume(this.#db, id));
  }

  /** The most recent runs, newest first. */
  runs(limit = 20): RunSummary[] {
    return this.#guard(() => {
      const rows = this.#db.prepare(`SELECT * FROM runs ORDER BY id DESC LIMIT ?`).all(limit) as RunRow[];
      const counts = this.#db.prepare(
        `SELECT status, count(*) AS n FROM hosts WHERE run_id = ? GROUP BY status`,
      );
      return rows.map((r) => summary(r, counts.all(r.id) as { status: string; n: number }[]));
    });
  }

  /** One run's summary, or undefined when the journal has no such run. */
  summary(id: number): RunSummary | undefined {
    return this.#guard(() => {
      const row = this.#db.prepare(`SELECT * FROM runs WHERE id = ?`).get(id) as RunRow | undefined;
      if (!row) return undefined;
      const counts = this.#db
        .prepare(`SELECT status, count(*) AS n FROM hosts WHERE run_id = ? GROUP BY status`)
        .all(id) as { status: string; n: number }[];
      return summary(row, counts);
    });
  }

  /** A past run's report, as the run itself gave it (a rolling deployment's for one), from its rows. */
  run(id: number): FleetReport<unknown> | RollingReport {
    return this.record(id).report;
  }

  /** A past run: its row, its report, and the hosts it left in flight. */
  record(id: number): JournalRecord {
    return this.#guard(() => {
      const row = this.#db.prepare(`SELECT * FROM runs WHERE id = ?`).get(id) as RunRow | undefined;
      if (!row)
        throw new JournalError(`run ${id} is not in the journal ${this.path} (fleetsh history lists them)`);
      const hosts = this.#db
        .prepare(`SELECT * FROM hosts WHERE run_id = ? ORDER BY phase, idx`)
        .all(id) as HostRow[];
      const attempts = this.#db
        .prepare(`SELECT * FROM attempts WHERE run_id = ? ORDER BY session, attempt`)
        .all(id) as AttemptRow[];
      const phases = this.#db.prepare(`SELECT * FROM phases WHERE run_id = ? ORDER BY number`).all(id) as {
        number: number;
        name: string;
        state: string;
      }[];
      const batches = this.#db
        .prepare(`SELECT * FROM batches WHERE run_id = ? ORDER BY phase, number`)
        .all(id) as BatchRow[];
      const live = isLive(row);
      const report = readRun(row, hosts, attempts, phases, batches, live);
      return {
        summary: summary(row, countRows(hosts)),
        row,
        hosts,
        report,
        interrupted: hosts.filter((h) => h.status === 'running').map((h) => h.host),
      };
    });
  }

  /** The newest run's id (one that is not running now), or undefined. */
  lastRunId(): number | undefined {
    return this.#guard(() => {
      const rows = this.#db
        .prepare(`SELECT id, ended_at, controller, pid FROM runs ORDER BY id DESC LIMIT 50`)
        .all() as Pick<RunRow, 'id' | 'ended_at' | 'controller' | 'pid'>[];
      return rows.find((r) => !isLive(r))?.id;
    });
  }

  /** The hosts of a run with an outcome, as the selection wrote them (`deploy@web1:2222`). */
  hostSet(id: number, set: RunSet): string[] {
    return this.#guard(() => {
      const statuses: Record<RunSet, string[]> = {
        ok: ['ok'],
        // A host in flight when the controller died did not succeed: it is among the failed.
        failed: ['failed', 'timeout', 'running'],
        unreachable: ['unreachable'],
        skipped: ['skipped', 'pending'],
      };
      const list = statuses[set];
      const rows = this.#db
        .prepare(
          `SELECT written FROM hosts WHERE run_id = ? AND status IN (${list.map(() => '?').join(',')}) ORDER BY phase, idx`,
        )
        .all(id, ...list) as { written: string }[];
      return [...new Set(rows.map((r) => r.written))];
    });
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #guard<R>(fn: () => R): R {
    try {
      return fn();
    } catch (e) {
      throw broken(e, this.path);
    }
  }
}

export interface JournalRecord {
  summary: RunSummary;
  row: RunRow;
  hosts: HostRow[];
  report: FleetReport<unknown> | RollingReport;
  /** Hosts that were running when the controller stopped (their outcome is unknown). */
  interrupted: string[];
}

/**
 * WAL mode, kept by the file once set. Setting it takes the file's lock without waiting for it
 * (SQLite calls no busy handler there), so two fleetsh processes creating one journal at once may
 * meet SQLITE_BUSY: retried for up to 10 s.
 */
function walMode(db: Database): void {
  if (db.pragma('journal_mode', { simple: true }) === 'wal') return;
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > end) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** SQLite's errors about the file itself as a JournalError that says what to do. */
function broken(e: unknown, path: string): unknown {
  const code = (e as { code?: string }).code;
  if (e instanceof JournalError || !code || !SQLITE_BROKEN.has(code)) return e;
  return new JournalError(
    `the journal ${path} is damaged or not an SQLite database (${(e as Error).message}). ` +
      `It was left as it is. Move it aside to start a new one (mv ${path} ${path}.broken), ` +
      `try to save its records with sqlite3's .recover, or use --journal OTHER-PATH or --no-journal`,
    { cause: e },
  );
}

/** A run with no end whose controller is a live process on this machine. */
export function isLive(row: Pick<RunRow, 'ended_at' | 'controller' | 'pid'>): boolean {
  if (row.ended_at !== null || row.pid === null) return false;
  if (row.controller !== hostname()) return true; // another machine's: it may be running
  if (row.pid === process.pid) return true;
  try {
    process.kill(row.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function countRows(hosts: readonly HostRow[]): { status: string; n: number }[] {
  const m = new Map<string, number>();
  for (const h of hosts) m.set(h.status, (m.get(h.status) ?? 0) + 1);
  return [...m].map(([status, n]) => ({ status, n }));
}

function summary(row: RunRow, byStatus: { status: string; n: number }[]): RunSummary {
  const live = isLive(row);
  const counts = {
    total: 0,
    ok: 0,
    failed: 0,
    timeout: 0,
    unreachable: 0,
    skipped: 0,
    interrupted: 0,
    running: 0,
  };
  for (const { status, n } of byStatus) {
    counts.total += n;
    if (status === 'running') counts[live ? 'running' : 'interrupted'] += n;
    else if (status === 'pending') counts.skipped += n;
    else if (status in counts) counts[status as keyof typeof counts] += n;
  }
  return {
    id: row.id,
    kind: row.kind,
    label: row.label,
    selection: row.selection,
    user: row.user,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outcome: row.outcome ?? (live ? null : 'interrupted'),
    state: live ? 'running' : row.ended_at === null ? 'interrupted' : 'ended',
    sessions: row.sessions,
    counts,
  };
}
