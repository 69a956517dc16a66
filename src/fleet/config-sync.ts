// Configuration sync: for each host, back up each changed file, put the new one in place
// atomically, validate, restore every backup when validation fails, and reload on success. No host
// is left with a half-written file: files are replaced by rename, and restored by rename.
import { quote } from '../command/quote.js';
import { modeBits } from '../local/tree.js';
import { UsageError } from '../process/errors.js';
import { putAtomic, remoteSha256, sha256File } from './files.js';
import { HostTaskError, messageOf } from './host-result.js';
import { runLine } from './line.js';
import type { HostTask, TaskContext } from './run.js';
import type { FleetShell } from './target.js';
import { stat } from 'node:fs/promises';

/** A path, or a function of the host name for per-host files (`(host) => \`./configs/${host}/app.conf\``). */
export type HostPath = string | ((host: string) => string);

export interface ConfigFile {
  local: HostPath;
  remote: HostPath;
  /** File mode on the host (default: the local file's). */
  mode?: number;
}

export type Step = string | ((shell: FleetShell, ctx: TaskContext) => PromiseLike<unknown>);

export interface SyncOptions {
  files: ConfigFile | ConfigFile[];
  /** Run after the files are in place; a non-zero exit (or a throw) restores the backups. */
  validate?: Step;
  /** Run after a successful validation, when something changed. */
  reload?: Step;
  /** Appended to a file's name for its backup (default '.fleetsh-backup'); backups are kept. */
  backupSuffix?: string;
  /** Read each new file back (its SHA-256 computed on the host) before it replaces the old one (default false). */
  verify?: boolean;
}

export type FileSyncStatus = 'unchanged' | 'updated' | 'created' | 'restored' | 'removed';

export interface FileSync {
  remote: string;
  status: FileSyncStatus;
  /** Where the previous version was kept, or null. */
  backup: string | null;
  sha256: string;
}

export interface SyncOutcome {
  files: FileSync[];
  changed: boolean;
  validated: boolean | null;
  reloaded: boolean | null;
  /** Why validation or reload failed, with the tail of the command's stderr. */
  error: string | null;
}

async function runStep(step: Step, shell: FleetShell, ctx: TaskContext): Promise<void> {
  if (typeof step === 'string') await runLine(shell, step, ctx);
  else await step(shell, ctx);
}

/** The per-host task of `fleet.syncConfig(options)`. */
export function syncTask(options: SyncOptions): HostTask<SyncOutcome> {
  const files = Array.isArray(options.files) ? options.files : [options.files];
  if (files.length === 0)
    throw new UsageError('syncConfig: option files: expected at least one { local, remote }');
  const suffix = options.backupSuffix ?? '.fleetsh-backup';
  const cache = new Map<string, Promise<{ sha256: string; mode: number }>>();
  const localMeta = (path: string) => {
    let m = cache.get(path);
    if (!m)
      cache.set(
        path,
        (m = (async () => ({ sha256: await sha256File(path), mode: modeBits(await stat(path)) }))()),
      );
    return m;
  };
  return async (shell, ctx) => {
    const paths = files.map((f) => ({
      local: typeof f.local === 'function' ? f.local(ctx.host) : f.local,
      remote: typeof f.remote === 'function' ? f.remote(ctx.host) : f.remote,
      mode: f.mode,
    }));
    const meta = await Promise.all(
      paths.map(async (f) => {
        const m = await localMeta(f.local);
        return { sha256: m.sha256, mode: f.mode ?? m.mode };
      }),
    );
    const outcome: SyncOutcome = { files: [], changed: false, validated: null, reloaded: null, error: null };
    const restore = async () => {
      for (const f of outcome.files) {
        if (f.status === 'updated') {
          await runLine(shell, `mv -f ${quote(f.backup!)} ${quote(f.remote)}`);
          f.status = 'restored';
        } else if (f.status === 'created') {
          await runLine(shell, `rm -f ${quote(f.remote)}`);
          f.status = 'removed';
        }
      }
    };
    try {
      for (let i = 0; i < paths.length; i++) {
        const f = paths[i]!;
        const { sha256, mode } = meta[i]!;
        const current = await remoteSha256(shell, f.remote);
        if (current === sha256) {
          outcome.files.push({ remote: f.remote, status: 'unchanged', backup: null, sha256 });
          continue;
        }
        const backup = current === null ? null : `${f.remote}${suffix}`;
        if (backup) await runLine(shell, `cp -p ${quote(f.remote)} ${quote(backup)}`);
        await putAtomic(shell, ctx, f.local, f.remote, sha256, mode, options.verify === true);
        outcome.files.push({ remote: f.remote, status: backup ? 'updated' : 'created', backup, sha256 });
        outcome.changed = true;
      }
    } catch (e) {
      // Lost half-way (a connection cut, a full disk): put back what was replaced, if the host lets us.
      await restore().catch(() => {});
      outcome.error = messageOf(e);
      if (e instanceof Error && 'kind' in e && (e as { kind: string }).kind !== 'failed') throw e;
      throw new HostTaskError(
        ctx.host,
        `config sync failed, previous files restored: ${outcome.error.replace(`${ctx.host}: `, '')}`,
        outcome,
      );
    }
    if (!outcome.changed) return outcome;
    if (options.validate) {
      try {
        await runStep(options.validate, shell, ctx);
        outcome.validated = true;
      } catch (e) {
        outcome.validated = false;
        outcome.error = messageOf(e).replace(`${ctx.host}: `, '');
        await restore();
        throw new HostTaskError(
          ctx.host,
          `validation failed, previous files restored: ${outcome.error.split('\n')[0]}`,
          outcome,
        );
      }
    }
    if (options.reload) {
      try {
        await runStep(options.reload, shell, ctx);
        outcome.reloaded = true;
      } catch (e) {
        outcome.reloaded = false;
        outcome.error = messageOf(e).replace(`${ctx.host}: `, '');
        throw new HostTaskError(
          ctx.host,
          `new configuration is in place and valid, but reload failed: ${outcome.error.split('\n')[0]}`,
          outcome,
        );
      }
    }
    return outcome;
  };
}
