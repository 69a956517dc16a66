// Health checks, one vocabulary for the fleet's named checks (`fleet.health({...})`) and for a
// rolling deployment's check after each host or batch: a command, a command with a parser and a
// test of its value, or a function of the host's shell; each may be tried several times, apart.
// Named checks run concurrently on the host's one connection (a few at a time, under the server's
// MaxSessions), with a typed result per host.
import { sleep } from '../process/abort.js';
import { parseDuration, type Duration } from '../process/duration.js';
import { ConnectionError } from '../process/errors.js';
import type { CommandResult } from '../process/result.js';
import { HostTaskError, messageOf } from './host-result.js';
import { runLine } from './line.js';
import type { HostTask, TaskContext } from './run.js';
import type { FleetShell } from './target.js';

/** A check as a function: healthy unless it throws or returns false; its value is what it returns. */
export type CheckFunction = (shell: FleetShell, ctx: TaskContext) => PromiseLike<unknown>;

/**
 * A check: a command (healthy when it exits 0; its value is the trimmed stdout), a function of the
 * host's shell, or an object: the command or function, a `parse` for a command's value and an `ok`
 * test of that value, and `attempts` (default 1) tried `interval` apart (default 1 s) before the
 * check counts as failed.
 */
export type CheckSpec =
  | string
  | CheckFunction
  | {
      command: string | CheckFunction;
      parse?: (result: CommandResult) => unknown;
      ok?: (value: any, result: CommandResult) => boolean;
      attempts?: number;
      interval?: Duration;
    };

export type CheckValue<S> = S extends { parse: (r: CommandResult) => infer V }
  ? V
  : S extends (...args: any[]) => PromiseLike<infer V>
    ? V
    : S extends { command: (...args: any[]) => PromiseLike<infer V> }
      ? V
      : string;

export interface CheckResult<V> {
  ok: boolean;
  /** The parsed value, the trimmed stdout, or what the function returned; null when the check failed to run. */
  value: V | null;
  error: string | null;
  durationMs: number;
}

export type HealthResult<C extends Record<string, CheckSpec>> = {
  ok: boolean;
  checks: { [K in keyof C]: CheckResult<CheckValue<C[K]>> };
};

/** At most this many checks at once on one host: OpenSSH allows 10 sessions per connection. */
export const CHECKS_AT_ONCE = 4;

/**
 * Runs one check on a host, trying it up to `attempts` times; the result of the last try. A host
 * that cannot be reached, or a killed one (timeout, cancel), throws instead. With `stream`, a
 * command's lines become the run's `server:output` events.
 */
export async function runCheck(
  spec: CheckSpec,
  shell: FleetShell,
  ctx: TaskContext,
  options: { stream?: boolean } = {},
): Promise<CheckResult<unknown>> {
  const o = typeof spec === 'object' ? spec : { command: spec };
  const attempts = o.attempts ?? 1;
  const interval = o.interval === undefined ? 1000 : parseDuration(o.interval, 'health check interval');
  const t0 = performance.now();
  let last: Omit<CheckResult<unknown>, 'durationMs'> = { ok: false, value: null, error: null };
  for (let i = 1; i <= attempts; i++) {
    last = await tryCheck(o, shell, ctx, options.stream === true);
    if (last.ok) break;
    // A killed host (timeout, cancel) stops waiting for its next try.
    if (i < attempts) await sleep(interval, ctx.signal);
  }
  const error = last.ok || attempts === 1 ? last.error : `failed ${attempts} times: ${last.error}`;
  return { ...last, error, durationMs: Math.round(performance.now() - t0) };
}

async function tryCheck(
  spec: Exclude<CheckSpec, string | CheckFunction>,
  shell: FleetShell,
  ctx: TaskContext,
  stream: boolean,
): Promise<Omit<CheckResult<unknown>, 'durationMs'>> {
  try {
    if (typeof spec.command === 'function') {
      const v = await spec.command(shell, ctx);
      return { ok: v !== false, value: v, error: v === false ? 'the check returned false' : null };
    }
    const result = await runLine(shell, spec.command, stream ? ctx : undefined).nothrow();
    const value = spec.parse ? spec.parse(result) : result.stdout.trim();
    const ok = spec.ok ? result.ok && spec.ok(value, result) : result.ok;
    // As a failed command's message says it: how it ended, then the end of its stderr.
    const tail = result.stderrTail.trimEnd();
    const why = !result.ok
      ? `exited with ${result.signal ? `signal ${result.signal}` : `code ${result.exitCode}`}` +
        (tail ? `\nstderr (last lines):\n${tail}` : '')
      : 'the value failed its test';
    return { ok, value, error: ok ? null : why };
  } catch (e) {
    if (e instanceof ConnectionError || ctx.signal.aborted) throw e;
    return { ok: false, value: null, error: messageOf(e).replace(`${ctx.host}: `, '') };
  }
}

/** The per-host task of `fleet.health(checks)`: the host fails (with its table kept) when a check fails. */
export function healthTask<C extends Record<string, CheckSpec>>(checks: C): HostTask<HealthResult<C>> {
  const names = Object.keys(checks);
  return async (shell, ctx) => {
    const out: Record<string, CheckResult<unknown>> = {};
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++]!;
        out[name] = await runCheck(checks[name]!, shell, ctx);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CHECKS_AT_ONCE, names.length) }, worker));
    const ordered = Object.fromEntries(names.map((n) => [n, out[n]!])) as HealthResult<C>['checks'];
    const failed = names.filter((n) => !out[n]!.ok);
    const result = { ok: failed.length === 0, checks: ordered };
    if (failed.length > 0)
      throw new HostTaskError(
        ctx.host,
        `unhealthy: ${failed.map((n) => `${n} (${out[n]!.error!.split('\n')[0]})`).join(', ')}`,
        result,
      );
    return result;
  };
}
