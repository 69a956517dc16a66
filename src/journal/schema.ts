// The journal's tables and their migrations. The schema version is SQLite's user_version and the
// file says it is a fleetsh journal in application_id, so a file from a newer fleetsh, or one that
// is not ours, is refused with a way forward instead of being reset. Migrations run in one
// IMMEDIATE transaction, so two fleetsh processes opening an old journal at once migrate it once.
import { JournalError } from './errors.js';
import type { Database } from './sqlite.js';

/** 'FLSH': the journal's application_id (sqlite3 PATH 'pragma application_id' shows 1179407176). */
export const APPLICATION_ID = 0x464c5348;

/** Each migration takes the schema from its index to its index + 1. */
const MIGRATIONS: readonly string[] = [
  // 0 → 1
  `
  CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,            -- run, script, copy, pull, rolling, fleet (the library)
    label TEXT,                    -- the command or operation, for people
    selection TEXT,                -- the host set as given (-w), or null
    hosts TEXT NOT NULL,           -- JSON: every host as written, in order
    options TEXT NOT NULL,         -- JSON: the run's options, secrets left out
    resume TEXT,                   -- JSON: what 'fleetsh resume' needs, or null (not resumable)
    user TEXT,
    controller TEXT,               -- this machine's host name
    pid INTEGER,                   -- the process running it now (a resume changes it)
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,                  -- null while running or after a crash; ok, failed, stopped, interrupted
    stopped TEXT,                  -- why it stopped early
    wall_ms INTEGER,
    output_dir TEXT,               -- --output-dir: each host's output in DIR/<host>.out and .err
    sessions INTEGER NOT NULL DEFAULT 1
  );
  CREATE TABLE hosts (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    host TEXT NOT NULL,            -- the name in the report
    written TEXT NOT NULL,         -- as the selection wrote it (deploy@web1:2222)
    idx INTEGER NOT NULL,
    phase INTEGER NOT NULL,        -- rolling: the phase's number (0-based); 0 for a fleet run
    batch INTEGER,                 -- rolling: the batch's number (1-based)
    status TEXT NOT NULL,          -- pending, running, ok, failed, timeout, unreachable, skipped
    kind TEXT,
    exit_code INTEGER,
    signal TEXT,
    error TEXT,
    reason TEXT,
    stdout BLOB,
    stderr BLOB,
    truncated INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER,
    session INTEGER,               -- which start or resume of the run last touched it
    started_at TEXT,
    ended_at TEXT,
    value TEXT,                    -- JSON: what a custom task returned, when it is plain data
    PRIMARY KEY (run_id, phase, host)
  ) WITHOUT ROWID;
  CREATE TABLE attempts (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    phase INTEGER NOT NULL,
    host TEXT NOT NULL,
    session INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    kind TEXT,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    retry_in_ms INTEGER,
    PRIMARY KEY (run_id, phase, host, session, attempt)
  ) WITHOUT ROWID;
  CREATE TABLE phases (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,           -- not-started, running, done, stopped
    PRIMARY KEY (run_id, number)
  ) WITHOUT ROWID;
  CREATE TABLE batches (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    phase INTEGER NOT NULL,
    number INTEGER NOT NULL,
    hosts TEXT NOT NULL,           -- the batch's hosts, folded (web[1-3])
    state TEXT NOT NULL,           -- running, done
    started_at TEXT NOT NULL,
    ended_at TEXT,
    wall_ms INTEGER,
    PRIMARY KEY (run_id, phase, number)
  ) WITHOUT ROWID;
  CREATE INDEX runs_by_start ON runs(started_at);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export { JournalError };

function wayOut(): string {
  return `use --journal OTHER-PATH or --no-journal for this run (in a script: the journal option)`;
}

/**
 * Brings the schema to SCHEMA_VERSION; refuses a newer one or a file that is another program's.
 * `beforeWrite` runs once the file is known to be a journal this fleetsh may write (it sets WAL
 * mode, which rewrites the header: a refused file is left byte for byte as it was).
 */
export function migrate(db: Database, path: string, beforeWrite: () => void): void {
  const check = () => {
    const app = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    if (app !== 0 && app !== APPLICATION_ID)
      throw new JournalError(
        `${path} is an SQLite database of another program (application_id ${app}), not a fleetsh journal: ` +
          `it was left as it is; ${wayOut()}`,
      );
    if (version > SCHEMA_VERSION)
      throw new JournalError(
        `the journal ${path} has schema version ${version}, newer than this fleetsh reads (${SCHEMA_VERSION}): ` +
          `a newer fleetsh wrote it. It was left as it is: upgrade fleetsh, or ${wayOut()}`,
      );
    if (app === 0 && version === 0) {
      const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get() as { n: number };
      if (tables.n > 0)
        throw new JournalError(
          `${path} is an SQLite database with tables of its own, not a fleetsh journal: ` +
            `it was left as it is; ${wayOut()}`,
        );
    }
    return version;
  };
  // Read in one transaction: the header and the tables as of one moment, even while another
  // process creates the journal (its tables and its header are one commit).
  const version = db.transaction(check)();
  beforeWrite();
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    const from = check(); // again, inside the lock: another process may have migrated meanwhile
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
