// A local script run on every host without copying it there (`fleet.script()`, `fleetsh script`):
// its text goes over stdin to the interpreter its `#!` line names, which reads its program from
// there, with the script's arguments quoted on the command line. Interpreters take a program on
// stdin in two ways, and fleetsh feeds only those it knows:
//
//   sh bash dash zsh ksh mksh ash yash     INTERPRETER -s -- ARGS   ($0 is the interpreter's name)
//   python* pypy* perl* ruby* node nodejs  INTERPRETER - ARGS
//
// No `#!` line: `sh -s -- ARGS`. `#!/usr/bin/env NAME [OPTIONS]` (with or without -S) is run as
// `/usr/bin/env NAME OPTIONS -s -- ARGS` and the like; a `#!/bin/bash -e` keeps its option. Any other
// interpreter is a UsageError: copy the script and run it instead.
//
// The script's stdin is its own text, so a command in it that reads stdin reads the script:
// sh-like interpreters read the program a line at a time.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { quote } from '../command/quote.js';
import { UsageError } from '../process/errors.js';
import { describeIoError } from '../process/io-error.js';

/** How each known interpreter takes its program on stdin, before the script's arguments. */
const FEEDS: { names: RegExp; feed: readonly string[] }[] = [
  { names: /^(sh|bash|dash|zsh|ksh|ksh93|mksh|ash|yash)$/, feed: ['-s', '--'] },
  { names: /^(python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs)$/, feed: ['-'] },
];

export const KNOWN_INTERPRETERS = 'sh, bash, dash, zsh, ksh, mksh, ash, yash, python, pypy, perl, ruby, node';

export interface LocalScript {
  /** The command line each host runs: the interpreter reading the script from stdin, and the arguments. */
  command: string;
  /** The script's text, sent to every host. */
  text: Buffer;
  /** `script FILE ARGS`, for the run's report. */
  label: string;
}

/** Reads a local script and builds the command that runs it from stdin; a UsageError says why not. */
export function localScript(file: string, args: readonly string[] = []): LocalScript {
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string'))
    throw new UsageError(`script ${file}: the arguments must be a list of strings`);
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (e) {
    throw new UsageError(`script ${file}: cannot read it: ${describeIoError(e)}`, { cause: e });
  }
  const words = [...interpreter(file, text), ...args].map(quote).join(' ');
  return { command: words, text, label: ['script', file, ...args].map(quote).join(' ') };
}

/** The interpreter's words and how it is fed, from the script's `#!` line. */
export function interpreter(file: string, text: Buffer): string[] {
  const end = text.indexOf(0x0a);
  const first = text
    .subarray(0, end === -1 ? text.length : end)
    .toString('utf8')
    .replace(/\r$/, '');
  if (!first.startsWith('#!')) {
    if (text.subarray(0, 8192).includes(0))
      throw new UsageError(
        `script ${file}: not a script (no #! line, and it holds NUL bytes): run programs with run`,
      );
    return ['sh', '-s', '--'];
  }
  // As Linux reads it: the interpreter, then the rest of the line as one argument.
  const line = first.slice(2).trim();
  const space = line.search(/\s/);
  const path = space === -1 ? line : line.slice(0, space);
  const arg = space === -1 ? '' : line.slice(space).trim();
  if (path === '') throw new UsageError(`script ${file}: its #! line names no interpreter`);
  let words: string[];
  let name: string;
  if (basename(path) === 'env') {
    // `env NAME` and `env -S NAME OPTIONS`: the program is NAME, found on the host's PATH.
    const rest = arg
      .replace(/^-S\s*/, '')
      .split(/\s+/)
      .filter((w) => w !== '');
    if (rest.length === 0 || rest[0]!.startsWith('-'))
      throw new UsageError(`script ${file}: cannot tell the interpreter from its #! line "${first}"`);
    words = [path, ...rest];
    name = basename(rest[0]!);
  } else {
    words = arg === '' ? [path] : [path, arg];
    name = basename(path);
  }
  const how = FEEDS.find((f) => f.names.test(name));
  if (!how) {
    throw new UsageError(
      `script ${file}: fleetsh cannot give its interpreter ${JSON.stringify(name)} the program on stdin ` +
        `(it knows ${KNOWN_INTERPRETERS}); copy the script to the hosts and run it there instead`,
    );
  }
  return [...words, ...how.feed];
}
