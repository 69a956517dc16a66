// How an error that ends `fleetsh` is printed, and which exit status it gives. Errors are values
// with a kind (src/process/errors.ts); the CLI only chooses words and a status for them. A message
// can quote a host, so it is printed through printable.
import { ConnectionError, FleetshError, UsageError } from '../process/errors.js';
import { printable } from '../process/printable.js';
import { EXIT } from './exit-codes.js';

/** Bad command-line input found by the CLI itself (a flag's value, a missing argument). */
export class CliUsageError extends UsageError {}

export interface Reported {
  text: string;
  code: number;
}

export function describeError(error: unknown, debug = process.env.FLEETSH_DEBUG === '1'): Reported {
  if (error instanceof FleetshError) {
    const code =
      error.kind === 'usage'
        ? EXIT.usage
        : error instanceof ConnectionError
          ? EXIT.unreachable
          : error.kind === 'cancelled'
            ? EXIT.interrupted
            : EXIT.failed;
    const text = debug && error.stack ? error.stack : error.message;
    return { text: printable(`fleetsh: ${text}`), code };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  const detail = debug ? (e.stack ?? e.message) : `${e.message}\n(set FLEETSH_DEBUG=1 for a stack trace)`;
  return { text: printable(`fleetsh: internal error: ${detail}`), code: EXIT.internal };
}

/** Prints the error to stderr and sets the exit status (the process ends when its work is done). */
export function reportError(error: unknown): void {
  const { text, code } = describeError(error);
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
  process.exitCode = code;
}
