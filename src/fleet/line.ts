// Running a command line that is already built (quoted) on a host's shell, with the run's input.
import { Readable } from 'node:stream';
import type { CommandPromise } from '../process/command-promise.js';
import type { CommandResult } from '../process/result.js';
import { HostTaskError } from './host-result.js';
import type { RunInput } from './input.js';
import type { TaskContext } from './run.js';
import type { FleetShell } from './target.js';

/** A template with only `${command}`: the sole-interpolation rule runs the string as the command line. */
const SOLE = Object.assign(['', ''], { raw: ['', ''] }) as unknown as TemplateStringsArray;

/** Runs a command line on a shell; with a context, its output becomes the run's `server:output` and `server:data` events. */
export function runLine(shell: FleetShell, command: string, ctx?: TaskContext): CommandPromise {
  const p = shell(SOLE, command);
  return ctx
    ? p
        .onLine((stream, line) => ctx.emitLine(stream, line))
        .onData((stream, data) => ctx.emitData(stream, data))
    : p;
}

/**
 * Runs a command line with the run's input on its stdin: a stream of its own, closed when the
 * command ends. An input that fails to be read stops the command and fails the host: a command
 * must not take a cut input for a whole one.
 */
export async function runLineWithInput(
  shell: FleetShell,
  command: string,
  ctx: TaskContext,
  input: RunInput,
): Promise<CommandResult> {
  const stdin = input.open();
  const p = runLine(shell, command, ctx).stdin(stdin);
  if (!(stdin instanceof Readable)) return p;
  let failure: Error | undefined;
  stdin.once('error', (e) => {
    failure = e;
    p.kill();
  });
  const stopped = () => new HostTaskError(ctx.host, `${failure!.message}; its command was stopped`, null);
  try {
    const result = await p;
    if (failure) throw stopped();
    return result;
  } catch (e) {
    throw failure && !(e instanceof HostTaskError) ? stopped() : e;
  } finally {
    stdin.destroy();
  }
}
