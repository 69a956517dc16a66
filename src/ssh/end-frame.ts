// How a command ended, told by the host: the system ssh exits 255 both when it failed and when the
// remote command was killed by a signal (it drops sshd's exit-signal), and passes a command's own
// `exit 255` on as 255 too. So the command line fleetsh sends runs the command in a child shell
// and, once it has ended, prints one frame on stderr (on the terminal's stream with a pty):
// `[fleetsh:TOKEN:end STATUS RECORDED]`. STATUS is the child's status as its parent saw it,
// RECORDED what the child itself recorded on reaching the end of the command (nothing when it
// died or exited early); session-frames.ts's outcomeOf reads the pair as the persistent shell does
// (128+N unrecorded is signal N). TOKEN is random per command; the frame is taken out of the
// output wherever it comes (a background child may print after it).
//
// The child shell leads a session of its own (setsid, where the host has it and no terminal was
// asked for): a kill of the command's process group (the kill helper's, or anyone's) ends the
// command and not the shell that reports it. On a terminal, two more frames: `go` once the host
// has set the terminal up (input waits for it), `nopty` when the server gave none.
//
// sudo on a terminal (sudo.ts) wraps the command it runs in a frame too: there the frame tells that
// the command has ended while sudo, which sometimes does not exit, still holds the session.
//
// No library does this: ssh's exit status is all that Ansible, pdsh and ClusterShell read.
import { randomBytes } from 'node:crypto';
import { quote } from '../command/quote.js';
import type { ExecOutcome } from '../process/executor.js';
import { outcomeOf } from './session-frames.js';

/** The longest word a frame may have after its prefix: `end 255 255`. */
const MAX_TAIL = 12;

export class EndFrame {
  readonly #prefix: Buffer;
  #pending: Buffer = Buffer.alloc(0);
  #outcome: ExecOutcome | undefined;
  #ptyRefused = false;
  #started = false;
  /** Called when a command on a terminal is ready for its input. */
  onStart: () => void = () => {};

  constructor(token = randomBytes(12).toString('hex')) {
    this.#prefix = Buffer.from(`[fleetsh:${token}:`);
  }

  /** The server gave no terminal where one was asked for: the command was not run. */
  get ptyRefused(): boolean {
    return this.#ptyRefused;
  }

  /**
   * What starts a command that asked for a terminal: none (the server refused it; ssh carries on
   * without) ends here with a frame that says so; else the terminal gets its size.
   */
  ptySetup(rows: number, cols: number): string {
    const p = quote(this.#prefix.toString());
    return (
      `[ -t 1 ] || { printf '%snopty]' ${p}; exit 1; }; ` +
      `stty sane rows ${rows} cols ${cols} 2>/dev/null; printf '%sgo]' ${p}`
    );
  }

  /** Whether a command on a terminal said it is ready for input (ptySetup's frame came). */
  get started(): boolean {
    return this.#started;
  }

  /** How the command ended, once the frame came. */
  get outcome(): ExecOutcome | undefined {
    return this.#outcome;
  }

  /**
   * The command line: `setup` (the job marker, environment and directory, for the login shell),
   * then `command` in a child shell, then the frame. `setsid`: the child leads its own session.
   * `shell`: the child's (default: the login shell's). `outlast`: the shell that prints the frame
   * catches TERM, HUP and INT, and so waits for the child, which gets them at their default (a
   * signal ignored here would stay ignored in the command): where both are in one process group,
   * the command decides whether a signal ends it, as it would alone.
   */
  wrap(
    setup: string,
    command: string,
    setsid: boolean,
    { shell = '"${SHELL:-/bin/sh}"', outlast = false }: { shell?: string; outlast?: boolean } = {},
  ): string {
    if (outlast) setup = `${setup}\ntrap : TERM HUP INT`;
    const inner = `{ ${command}\n} 3>&-\ns=$?; echo "$s" >&3; exit "$s"`;
    const runner = setsid ? 'f=; command -v setsid >/dev/null 2>&1 && f=setsid\n' : 'f=\n';
    return (
      // While the child runs, this shell's own stderr goes nowhere (dash reports a child killed
      // by a signal there: "Killed"); the child keeps the real one, kept aside on fd 5.
      `${setup}\n${runner}exec 4>&1 5>&2 2>/dev/null\n` +
      `r=$($f ${shell} -c ${quote(inner)} 3>&1 1>&4 4>&- 2>&5 5>&-)\ns=$?\nexec 4>&- 2>&5 5>&-\n` +
      `printf '%send %s %s]' ${quote(this.#prefix.toString())} "$s" "$r" >&2\nexit "$s"`
    );
  }

  /** The bytes of the stream that carries the frame, less the frame; a possible start is held back. */
  push(chunk: Buffer): Buffer {
    if (this.#outcome) return chunk;
    const data = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = Buffer.alloc(0);
    // The prefix may come before the frame without being one: the command line itself holds it,
    // and a command that lists processes (`ps -ef >&2`) prints it. The search goes on past it.
    for (let from = 0; ;) {
      const at = data.indexOf(this.#prefix, from);
      if (at < 0) break;
      const rest = data.subarray(at + this.#prefix.length);
      const close = rest.subarray(0, MAX_TAIL + 1).indexOf(0x5d); // ]
      if (close < 0 && rest.length <= MAX_TAIL) {
        this.#pending = Buffer.from(data.subarray(at));
        return data.subarray(0, at);
      }
      const said = close >= 0 ? rest.subarray(0, close).toString('latin1') : '';
      const before = data.subarray(0, at);
      if (said === 'go' && !this.#started) {
        this.#started = true;
        this.onStart();
        return Buffer.concat([before, this.push(rest.subarray(close + 1))]);
      }
      const outcome =
        said === 'nopty'
          ? { exitCode: 1, signal: null }
          : said.startsWith('end ')
            ? outcomeOf(said.slice(4))
            : undefined;
      if (outcome) {
        this.#ptyRefused = said === 'nopty';
        this.#outcome = outcome;
        return Buffer.concat([before, rest.subarray(close + 1)]);
      }
      // Not a frame after all: it goes on as output, and so does the search.
      from = at + 1;
    }
    const keep = partialAtEnd(data, this.#prefix);
    this.#pending = Buffer.from(data.subarray(data.length - keep));
    return data.subarray(0, data.length - keep);
  }

  /** What was held back, at the end of the stream. */
  flush(): Buffer {
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    return rest;
  }
}

/** The length of the longest end of `data` that is a beginning of `token` (shorter than the token). */
export function partialAtEnd(data: Buffer, token: Buffer): number {
  for (let n = Math.min(token.length - 1, data.length); n > 0; n--) {
    if (data.subarray(data.length - n).equals(token.subarray(0, n))) return n;
  }
  return 0;
}
