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
// On a terminal, sudo (1.9.13 in Debian 12, with use_pty, its default there) sometimes does not
// exit after its command has: input that reaches the terminal as the command ends (the ^D that
// ends a command's input is typed once it runs, the earliest the command's terminal takes it)
// leaves sudo waiting for good, holding the session open. Here 6 of 4000 runs beside
// `stress-ng --cpu 3` stayed so; hanging up the terminal ended each, with the command's status.
// So on a terminal the command runs in a child shell that prints an end frame (end-frame.ts) once
// it has ended, and the transport gives sudo SUDO_EXIT_WAIT_MS from then to exit before it closes
// the session and reports the status the frame told.
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
import { EndFrame, partialAtEnd } from './end-frame.js';

/**
 * How long sudo on a terminal may take to exit once its command has ended (the end frame came)
 * before the session is closed: sudo exits within milliseconds when it is not stuck.
 */
export const SUDO_EXIT_WAIT_MS = 5000;

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
  /** On a terminal: the frame the command's shell prints once the command has ended. */
  readonly #end: EndFrame | undefined;
  /** Called once the command has ended (on a terminal, where the end frame tells it). */
  #onCommandEnd: () => void = () => {};
  /** Gives the output held back at the end of the stream (a possible start of the end frame). */
  #flush: () => void = () => {};

  constructor(options: SudoDialogOptions) {
    this.#o = options;
    // Letters, digits and punctuation that sudo's prompt does not expand (it expands %-escapes).
    const token = randomBytes(9).toString('hex');
    this.#prompt = Buffer.from(`[fleetsh:${token}:password]`);
    this.#marker = Buffer.from(`[fleetsh:${token}:start]`);
    if (options.pty) this.#end = new EndFrame();
  }

  /** How the command ended, once its end frame came (only on a terminal); sudo may still be running. */
  get commandOutcome(): ExecOutcome | undefined {
    return this.#end?.outcome;
  }

  /**
   * The transport's part for a sudo that outlives its command (see the header): once the end frame
   * has come, sudo gets SUDO_EXIT_WAIT_MS to exit; then `hangUp()` ends the session and the call
   * settles with the command's outcome. The timer goes in `timers`, which the call clears on settling.
   */
  watchExit(timers: NodeJS.Timeout[], hangUp: () => void, settle: (outcome: ExecOutcome) => void): void {
    this.#onCommandEnd = () =>
      timers.push(
        setTimeout(() => {
          hangUp();
          settle(this.#end!.outcome!);
        }, SUDO_EXIT_WAIT_MS),
      );
  }

  /** At the end of the stream: passes on what was held back as a possible start of the end frame. */
  flush(): void {
    this.#flush();
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
    const start = `printf '%s' ${quote(this.#marker.toString())} >&2`;
    // On a terminal, the command in a child /bin/sh, and the end frame after it (see the header).
    const shell = this.#end
      ? this.#end.wrap(start, inner, false, { shell: '/bin/sh', outlast: true })
      : `${start}; ${inner}`;
    return `${setup}\nexec sudo ${flags.map(quote).join(' ')} -- /bin/sh -c ${quote(shell)}`;
  }

  /** The request's input and output through the dialog. */
  wire(req: ExecRequest): ExecRequest {
    const input = new PassThrough();
    const scanned = this.#o.pty ? 'stdout' : 'stderr';
    let pending: Buffer = Buffer.alloc(0);
    let newlineAfterPrompt = false;
    const end = this.#end;
    // The command's output on the scanned stream, less the end frame (on a terminal).
    const pass = (chunk: Buffer) => {
      if (end && !end.outcome) {
        chunk = end.push(chunk);
        if (end.outcome) this.#onCommandEnd();
      }
      if (chunk.length > 0) req.onData(scanned, chunk);
    };
    this.#flush = () => {
      const rest = Buffer.concat([end ? end.flush() : Buffer.alloc(0), pending]);
      pending = Buffer.alloc(0);
      if (rest.length > 0) req.onData(scanned, rest);
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
          pass(pending.subarray(0, m));
          const rest = pending.subarray(m + this.#marker.length);
          pending = Buffer.alloc(0);
          this.#started = true;
          pass(rest);
          startInput(req.stdin, input);
          return;
        }
        if (p >= 0) {
          pass(pending.subarray(0, p));
          pending = pending.subarray(p + this.#prompt.length);
          this.#answer(input);
          newlineAfterPrompt = this.#o.pty;
          continue;
        }
        // Keep what could be the start of a prompt or the marker split across reads.
        const keep = Math.max(partialAtEnd(pending, this.#prompt), partialAtEnd(pending, this.#marker));
        pass(pending.subarray(0, pending.length - keep));
        pending = Buffer.from(pending.subarray(pending.length - keep));
        return;
      }
    };
    return {
      ...req,
      stdin: input,
      onData: (stream, chunk) => {
        if (stream !== scanned) return req.onData(stream, chunk);
        if (this.#started) return pass(chunk);
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
