// fleetsh's own stdin, which it reads at most once: a host list (`-w -`), or the input every host's
// command gets (`run ... < file`, `--stdin-file -`). On a terminal with neither asked, it is not
// read at all, so commands get no input (as with `ssh -n`); nor is /dev/null, which has none to give.
import { fstatSync, statSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { FleetInput } from '../fleet/input.js';
import { CliUsageError } from './errors.js';

/** The `-w -` list: a few bytes a host, so 64 MiB is a million hosts of 64 characters (maxHosts). */
export const HOST_LIST_LIMIT = 64 * 1024 * 1024;

/** True when stdin is a terminal: nothing is piped or redirected in. */
export function stdinIsTerminal(): boolean {
  return isatty(0);
}

/**
 * True when stdin is /dev/null (`< /dev/null`, cron, a CI step, a parent that gave none): there is
 * no input to send, and a command without one gets end of input at once, as it would from an empty
 * input. Not reading it spares a run the spool and every host an input stream, which also kept each
 * command off the connection's persistent shell (its channel's input carries the shell's requests).
 */
export function stdinIsNull(): boolean {
  try {
    const fd0 = fstatSync(0);
    const devNull = statSync('/dev/null');
    return fd0.isCharacterDevice() && fd0.rdev === devNull.rdev;
  } catch {
    return false;
  }
}

/** Reads all of stdin as text (a host list), refusing more than `limit` bytes. */
export async function readStdinText(what: string, limit = HOST_LIST_LIMIT): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      process.stdin.destroy();
      throw new CliUsageError(
        `${what}: more than ${limit / 1024 / 1024} MiB on stdin; a host list holds one host a line`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface InputFlags {
  hosts?: string;
  exclude?: string;
  /** --stdin-file FILE, or - for stdin. */
  stdinFile?: string;
}

/**
 * The input every host's command gets, as the fleet's `stdin` option: --stdin-file's file, or
 * fleetsh's stdin when it is not a terminal, /dev/null or a host list. Checked before stdin is read.
 */
export function commandInput(flags: InputFlags): FleetInput | undefined {
  const list = flags.hosts === '-' ? '-w -' : flags.exclude === '-' ? '-x -' : undefined;
  if (flags.stdinFile === '-' && list) {
    throw new CliUsageError(
      `stdin cannot be both the host list (${list}) and the commands' input (--stdin-file -): ` +
        'give the hosts with ^FILE, or the input with --stdin-file FILE',
    );
  }
  if (flags.stdinFile === '-') return process.stdin;
  if (flags.stdinFile !== undefined) return { file: flags.stdinFile };
  if (list || stdinIsTerminal() || stdinIsNull()) return undefined;
  return process.stdin;
}
