// sudo on an SSH host: one sudo invocation runs the command, and is given the password itself when
// it asks. So it works where sudo caches no credentials (timestamp_timeout=0), which a "validate
// first, then sudo -n" scheme needs.
//
// The password travels over the channel only, never in a command line or an environment: sudo asks
// with a prompt unique to the command (`-p`), on stderr (`-S`, reading stdin) or, on a
// pseudo-terminal, on the terminal (with echo off); fleetsh answers that prompt and nothing else.
// The command (a shell under sudo) first prints a start marker unique to the command: until it
// appears, the command's own input is held back, so sudo cannot read it as a password and the
// password cannot reach the command. Prompts and the marker are taken out of the output; what else
// sudo says ("Sorry, try again.") is passed on. Without a password, sudo runs with `-n` and fails
// at once where it would ask.
//
// How it ended is read from these facts, never from sudo's words: the marker seen (the command
// ran), the prompt seen twice (the password was rejected: fleetsh does not answer again but gives
// sudo end of input), exit status 127 without the marker (no sudo on the host).
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { quote } from '../command/quote.js';
import type { Shell } from '../command/shell.js';
import type { CommandPromise } from '../process/command-promise.js';
import { SudoError, type SudoFailure } from '../process/errors.js';
import type { SudoOptions } from '../process/exec-options.js';
import type { ExecOutcome, ExecRequest } from '../process/executor.js';

/** ``ssh.sudo`cmd` `` runs as root; `ssh.sudo({ user, password })` is a shell whose commands run through sudo that way. */
export interface SudoTemplate {
  (strings: TemplateStringsArray, ...values: unknown[]): CommandPromise;
  (options: SudoOptions): Shell;
}

export function makeSudo(shell: Shell): SudoTemplate {
  return ((first: TemplateStringsArray | SudoOptions, ...values: unknown[]) => {
    if (Array.isArray(first) && 'raw' in first)
      return shell.with({ sudo: shell.options.sudo || true })(first, ...values);
    return shell.with({ sudo: first as SudoOptions });
  }) as SudoTemplate;
}

/** ^D: end of input on a terminal in canonical mode, as a person would type it. */
const EOT = 0x04;
/** What sudo's pwfeedback draws after the prompt: `*`, and backspace-space-backspace to erase it. */
const FEEDBACK = new Set([0x2a, 0x08, 0x20]);
/** ^V (LNEXT): the terminal takes the next byte literally, so a control character in a password stays one. */
const LNEXT = 0x16;

export interface SudoDialogOptions {
  /** Given to sudo when it asks (and only then); without one, sudo runs with -n. */
  password: string | undefined;
  user: string | undefined;
  pty: boolean;
}

/** One command's conversation with sudo: its command line, its input and output, and how it ended. */
export class SudoDialog {
  readonly #o: SudoDialogOptions;
  readonly #prompt: Buffer;
  readonly #marker: Buffer;
  #prompts = 0;
  #started = false;

  constructor(options: SudoDialogOptions) {
    this.#o = options;
    // Letters, digits and punctuation that sudo's prompt does not expand (it expands %-escapes).
    const token = randomBytes(9).toString('hex');
    this.#prompt = Buffer.from(`[fleetsh:${token}:password]`);
    this.#marker = Buffer.from(`[fleetsh:${token}:start]`);
  }

  /** Whether sudo started the command (the marker came). */
  get started(): boolean {
    return this.#started;
  }

  /**
   * The command line: `setup` (the job marker, for the kill helper) for the login shell, then sudo
   * running a shell that prints the start marker and runs `inner` (the command with its
   * environment and directory, which sudo would otherwise reset).
   */
  command(setup: string, inner: string): string {
    const { password, user, pty } = this.#o;
    const flags =
      password === undefined
        ? ['-n']
        : pty
          ? ['-p', this.#prompt.toString()]
          : ['-S', '-p', this.#prompt.toString()];
    if (user !== undefined) flags.push('-u', user);
    const shell = `printf '%s' ${quote(this.#marker.toString())} >&2; ${inner}`;
    return `${setup}\nexec sudo ${flags.map(quote).join(' ')} -- /bin/sh -c ${quote(shell)}`;
  }

  /** The request's input and output through the dialog. */
  wire(req: ExecRequest): ExecRequest {
    const input = new PassThrough();
    const scanned = this.#o.pty ? 'stdout' : 'stderr';
    let pending: Buffer = Buffer.alloc(0);
    let newlineAfterPrompt = false;
    const emit = (chunk: Buffer) => {
      if (chunk.length > 0) req.onData(scanned, chunk);
    };
    const scan = () => {
      for (;;) {
        if (newlineAfterPrompt) {
          // On a terminal, sudo ends the line it read the password from: CRLF, part of its prompt;
          // with pwfeedback it first shows an asterisk per character read, then erases them ("\b \b").
          let feedback = 0;
          while (feedback < pending.length && FEEDBACK.has(pending[feedback]!)) feedback++;
          pending = pending.subarray(feedback);
          if (pending.length === 0 || (pending.length === 1 && pending[0] === 0x0d)) return;
          if (pending[0] === 0x0d && pending[1] === 0x0a) pending = pending.subarray(2);
          else if (pending[0] === 0x0a) pending = pending.subarray(1);
          newlineAfterPrompt = false;
        }
        const p = pending.indexOf(this.#prompt);
        const m = pending.indexOf(this.#marker);
        if (m >= 0 && (p < 0 || m < p)) {
          emit(pending.subarray(0, m));
          const rest = pending.subarray(m + this.#marker.length);
          pending = Buffer.alloc(0);
          this.#started = true;
          emit(rest);
          startInput(req.stdin, input);
          return;
        }
        if (p >= 0) {
          emit(pending.subarray(0, p));
          pending = pending.subarray(p + this.#prompt.length);
          this.#answer(input);
          newlineAfterPrompt = this.#o.pty;
          continue;
        }
        // Keep what could be the start of a prompt or the marker split across reads.
        const keep = Math.max(partialAtEnd(pending, this.#prompt), partialAtEnd(pending, this.#marker));
        emit(pending.subarray(0, pending.length - keep));
        pending = Buffer.from(pending.subarray(pending.length - keep));
        return;
      }
    };
    return {
      ...req,
      stdin: input,
      onData: (stream, chunk) => {
        if (this.#started || stream !== scanned) return req.onData(stream, chunk);
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        scan();
      },
    };
  }

  /** The outcome, with the SudoError to report when sudo did not start the command. */
  outcome(outcome: ExecOutcome): ExecOutcome {
    if (this.#started || outcome.exitCode === null || outcome.exitCode === 0) return outcome;
    const reason: SudoFailure =
      outcome.exitCode === 127 ? 'not-found' : this.#prompts >= 2 ? 'password-rejected' : 'refused';
    const facts = {
      reason,
      user: this.#o.user,
      passwordGiven: this.#o.password !== undefined,
      pty: this.#o.pty,
    };
    return { ...outcome, failure: (result) => new SudoError(result, facts) };
  }

  /** The first prompt gets the password; another means it was wrong: sudo gets end of input instead. */
  #answer(input: PassThrough): void {
    this.#prompts++;
    const password = this.#o.password;
    if (this.#prompts === 1 && password !== undefined) {
      input.write(this.#o.pty ? literal(password) : Buffer.from(password));
      input.write('\n');
    } else if (this.#o.pty) input.write(Buffer.of(EOT));
    else input.end();
  }
}

/** The command's own input, once it runs. The transport ends it (on a terminal, with ^D). */
function startInput(stdin: ExecRequest['stdin'], input: PassThrough): void {
  if (input.writableEnded) return;
  if (stdin === undefined) input.end();
  else if (stdin instanceof Readable) {
    stdin.on('error', () => input.end());
    stdin.pipe(input);
  } else input.end(stdin);
}

/** A password as typed on a terminal: each control character preceded by ^V, so it is taken literally. */
function literal(password: string): Buffer {
  const bytes = Buffer.from(password);
  const out: number[] = [];
  for (const b of bytes) {
    if (b < 0x20 || b === 0x7f) out.push(LNEXT);
    out.push(b);
  }
  return Buffer.from(out);
}

/** The length of the longest end of `data` that is a beginning of `token` (shorter than the token). */
function partialAtEnd(data: Buffer, token: Buffer): number {
  for (let n = Math.min(token.length - 1, data.length); n > 0; n--) {
    if (data.subarray(data.length - n).equals(token.subarray(0, n))) return n;
  }
  return 0;
}
