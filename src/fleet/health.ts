// Fleet health checks: several named checks per host, run concurrently on the host's one
// connection (a few at a time, under the server's MaxSessions), with a typed result per host.
import { ConnectionError } from '../process/errors.js';
import type { CommandResult } from '../process/result.js';
import { HostTaskError, messageOf } from './host-result.js';
import { runLine } from './line.js';
import type { HostTask, TaskContext } from './run.js';
import type { FleetShell } from './target.js';

/**
 * A check: a command (healthy when it exits 0; its value is the trimmed stdout), a command with a
 * `parse` for its value and an `ok` test of that value, or a function of the host's shell.
 */
export type CheckSpec =
  | string
  | {
      command: string;
      parse?: (result: CommandResult) => unknown;
      ok?: (value: any, result: CommandResult) => boolean;
    }
  | ((shell: FleetShell, ctx: TaskContext) => PromiseLike<unknown>);

export type CheckValue<S> = S extends { parse: (r: CommandResult) => infer V }
  ? V
  : S extends (...args: any[]) => PromiseLike<infer V>
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

async function runCheck(spec: CheckSpec, shell: FleetShell, ctx: TaskContext): Promise<CheckResult<unknown>> {
  const t0 = performance.now();
  const done = (ok: boolean, value: unknown, error: string | null) => ({
    ok,
    value,
    error,
    durationMs: Math.round(performance.now() - t0),
  });
  try {
    if (typeof spec === 'function') {
      const v = await spec(shell, ctx);
      return done(v !== false, v, v === false ? 'the check returned false' : null);
    }
    const command = typeof spec === 'string' ? spec : spec.command;
    const result = await runLine(shell, command).nothrow();
    const value = typeof spec === 'object' && spec.parse ? spec.parse(result) : result.stdout.trim();
    const ok = typeof spec === 'object' && spec.ok ? result.ok && spec.ok(value, result) : result.ok;
    const why = !result.ok
      ? `exited with ${result.signal ? `signal ${result.signal}` : `code ${result.exitCode}`}${result.stderrTail ? `: ${result.stderrTail.split('\n').at(-1)}` : ''}`
      : 'the value failed its test';
    return done(ok, value, ok ? null : why);
  } catch (e) {
    if (e instanceof ConnectionError || ctx.signal.aborted) throw e;
    return done(false, null, messageOf(e).replace(`${ctx.host}: `, ''));
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
        `unhealthy: ${failed.map((n) => `${n} (${out[n]!.error})`).join(', ')}`,
        result,
      );
    return result;
  };
}
