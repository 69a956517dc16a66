// Turns a tagged template into a command line. Interpolated values are quoted as single words,
// so ``$`cp ${file} ${file}.backup` `` is safe for any file name.
import { UsageError } from '../process/errors.js';
import { CommandResult } from '../process/result.js';
import { quote } from './quote.js';

/** Text inserted into a command line as it is, without quoting: `$.raw('*.log')`. */
export class RawCommand {
  constructor(readonly text: string) {
    if (typeof text !== 'string') throw new UsageError(`raw() takes a string, got ${describe(text)}`);
  }
  toString(): string {
    return this.text;
  }
}

export function raw(text: string): RawCommand {
  return new RawCommand(text);
}

/**
 * Builds the command line of a template.
 * The sole-interpolation rule: a template with no literal text except white space and exactly one
 * string value runs that string as the command line (``$.ssh(server)`${command}` `` in the batch-operations guide).
 */
export function buildCommand(
  strings: TemplateStringsArray | readonly string[],
  values: readonly unknown[],
): string {
  if (!Array.isArray(strings) || strings.length !== values.length + 1) {
    throw new UsageError('a command must be written as a tagged template: $`echo hello`');
  }
  if (values.length === 1 && typeof values[0] === 'string' && strings.every((s) => s.trim() === '')) {
    const line = values[0];
    if (line.trim() === '') throw new UsageError('the command line is empty');
    return line;
  }
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) {
    out += quoteValue(values[i], i) + strings[i + 1]!;
  }
  if (out.trim() === '') throw new UsageError('the command line is empty');
  return out;
}

function quoteValue(value: unknown, index: number): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      if (!Number.isFinite(value)) throw badValue(value, index, 'a finite number');
      return quote(String(value));
    case 'bigint':
    case 'boolean':
      return quote(String(value));
  }
  if (Array.isArray(value)) return value.map((v) => quoteValue(v, index)).join(' ');
  if (value instanceof RawCommand) return value.text;
  if (value instanceof CommandResult) return quote(value.stdout.trim());
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  ) {
    throw new UsageError(
      `value ${index + 1} of the command template is a command that has not finished: await it first`,
    );
  }
  throw badValue(value, index, 'a string, number, array, previous result or $.raw()');
}

function badValue(value: unknown, index: number, expected: string): UsageError {
  return new UsageError(
    `value ${index + 1} of the command template is ${describe(value)}; expected ${expected}. ` +
      'Nothing was run.',
  );
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'object') return 'an object';
  return typeof value;
}
