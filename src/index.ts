// The public surface of fleetsh: `$` and the types and errors a user handles.
import { RawCommand, raw } from './command/template.js';
import { quote } from './command/quote.js';
import { LocalExecutor } from './local/local-executor.js';
import { makeShell, type Shell } from './process/shell.js';

export interface Dollar extends Shell {
  /** Text inserted into a command line without quoting: ``$`ls ${$.raw('*.log')}` ``. */
  raw(text: string): RawCommand;
  /** Quotes one value as a POSIX shell word. */
  quote(value: string): string;
}

const local = makeShell(new LocalExecutor(), {});
export const $: Dollar = Object.assign(local, { raw, quote });

export { quote } from './command/quote.js';
export { raw, RawCommand, buildCommand } from './command/template.js';
export { CommandPromise, type CommandOptions, type LineListener, type Stdin } from './process/command-promise.js';
export { CommandResult } from './process/result.js';
export { DEFAULT_MAX_OUTPUT } from './process/capture.js';
export { parseDuration, type Duration } from './process/duration.js';
export type { Shell } from './process/shell.js';
export type { Executor, ExecRequest, ExecOutcome } from './process/executor.js';
export {
  FleetshError,
  CommandError,
  TimeoutError,
  CancelledError,
  ConnectionError,
  UsageError,
  type ErrorKind,
  type ConnectionErrorKind,
} from './process/errors.js';
