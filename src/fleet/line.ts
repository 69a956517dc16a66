// Running a command line that is already built (quoted) on a host's shell.
import type { CommandPromise } from '../process/command-promise.js';
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
