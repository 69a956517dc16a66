// The host sets of the last run, so `-w @failed` reruns what failed. One small JSON file:
// $FLEETSH_STATE_FILE, else $XDG_STATE_HOME/fleetsh/last-run.json, else ~/.local/state/fleetsh/last-run.json.
import { lstat, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliUsageError } from './errors.js';

/** Names usable as `@name` in a host set after a run. */
export const LAST_RUN_SETS = ['ok', 'failed', 'unreachable', 'skipped'] as const;
export type LastRunSet = (typeof LAST_RUN_SETS)[number];

export interface LastRun {
  version: 1;
  /** ISO time the run ended. */
  at: string;
  /** The subcommand and its command line, for the operator's memory. */
  command: string;
  /** Host names per outcome; `failed` includes commands that timed out. */
  sets: Record<LastRunSet, string[]>;
}

export function statePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FLEETSH_STATE_FILE) return env.FLEETSH_STATE_FILE;
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'fleetsh', 'last-run.json');
}

export async function saveLastRun(run: Omit<LastRun, 'version' | 'at'>): Promise<void> {
  const path = statePath();
  const data: LastRun = { version: 1, at: new Date().toISOString(), ...run };
  try {
    // A path that is not a regular file (FLEETSH_STATE_FILE=/dev/null to keep nothing) is written
    // to as it is: renaming over it would replace a device with a file.
    const existing = await lstat(path).catch(() => undefined);
    if (existing && !existing.isFile()) {
      await writeFile(path, JSON.stringify(data) + '\n');
      return;
    }
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(data, null, 2) + '\n');
    await rename(tmp, path);
  } catch (e) {
    // Losing @failed is worth a warning, never a failed run.
    process.stderr.write(
      `fleetsh: warning: could not save the last run to ${path}: ${(e as Error).message}\n`,
    );
  }
}

export async function loadLastRun(): Promise<LastRun | undefined> {
  const path = statePath();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const data = JSON.parse(text) as LastRun;
    if (data.version !== 1 || typeof data.sets !== 'object') throw new Error('unknown format');
    return data;
  } catch (e) {
    throw new CliUsageError(
      `the last run's state in ${path} is unreadable (${(e as Error).message}); delete it and run again`,
    );
  }
}

/** The hosts of `@failed` (etc.); an error that says why when there is no last run. */
export async function lastRunSet(name: LastRunSet): Promise<string[]> {
  const last = await loadLastRun();
  if (!last)
    throw new CliUsageError(
      `@${name}: there is no previous run to take hosts from (state file ${statePath()})`,
    );
  return last.sets[name] ?? [];
}
