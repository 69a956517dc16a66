// better-sqlite3, loaded on first use: it is a native addon (~2 MB to map and initialise), and
// `fleetsh hosts`, `--help` and start-up must not pay for it. No JavaScript library keeps a
// database that several processes write at once and that survives a `kill -9` mid-write; SQLite in
// WAL mode does, and better-sqlite3 is its synchronous binding: a host's row is on disk before the
// next event is handled, with no promise queue to lose on a crash.
//
// The CLI bundle (CommonJS) has `require`; the ESM build reaches it through createRequire. Either
// way the addon resolves from node_modules, never from the bundle (scripts/bundle.mjs keeps it out).
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { JournalError } from './errors.js';

export type Database = BetterSqlite3.Database;
export type Statement = BetterSqlite3.Statement;
type Constructor = typeof BetterSqlite3;

let loaded: Constructor | undefined;

export function loadSqlite(): Constructor {
  if (loaded) return loaded;
  const req: NodeRequire = typeof require === 'function' ? require : createRequire(import.meta.url);
  const name = 'better-sqlite3'; // through a variable: the bundler leaves it to Node's resolver
  try {
    loaded = req(name) as Constructor;
  } catch (e) {
    throw new JournalError(
      `the run journal needs better-sqlite3, which did not load (${(e as Error).message.split('\n')[0]}): ` +
        'reinstall fleetsh (npm ci builds it), or run with --no-journal',
      { cause: e },
    );
  }
  return loaded;
}
