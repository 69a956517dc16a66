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
// command and not the shell that reports it.
import { randomBytes } from 'node:crypto';
import { quote } from '../../command/quote.js';
import type { ExecOutcome } from '../../process/executor.js';
import { outcomeOf } from '../session-frames.js';

/** The longest STATUS RECORDED part a frame may have: `255 255`. */
const MAX_TAIL = 8;

export class EndFrame {
  readonly #prefix: Buffer;
  #pending: Buffer = Buffer.alloc(0);
  #outcome: ExecOutcome | undefined;

  constructor(token = randomBytes(12).toString('hex')) {
    this.#prefix = Buffer.from(`[fleetsh:${token}:end `);
  }

  /** How the command ended, once the frame came. */
  get outcome(): ExecOutcome | undefined {
    return this.#outcome;
  }

  /**
   * The command line: `setup` (the job marker, environment and directory, for the login shell),
   * then `command` in a child shell, then the frame. `setsid`: the child leads its own session.
   */
  wrap(setup: string, command: string, setsid: boolean): string {
    const inner = `{ ${command}\n} 3>&-\ns=$?; echo "$s" >&3; exit "$s"`;
    const runner = setsid ? 'f=; command -v setsid >/dev/null 2>&1 && f=setsid\n' : 'f=\n';
    return (
      `${setup}\n${runner}exec 4>&1\n` +
      `r=$($f "\${SHELL:-/bin/sh}" -c ${quote(inner)} 3>&1 1>&4 4>&-)\ns=$?\nexec 4>&-\n` +
      `printf '%s%s %s]' ${quote(this.#prefix.toString())} "$s" "$r" >&2\nexit "$s"`
    );
  }

  /** The bytes of the stream that carries the frame, less the frame; a possible start is held back. */
  push(chunk: Buffer): Buffer {
    if (this.#outcome) return chunk;
    const data = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const at = data.indexOf(this.#prefix);
    if (at >= 0) {
      const rest = data.subarray(at + this.#prefix.length);
      const close = rest.indexOf(0x5d); // ]
      if (close < 0 && rest.length <= MAX_TAIL) {
        this.#pending = Buffer.from(data.subarray(at));
        return data.subarray(0, at);
      }
      const outcome = close >= 0 ? outcomeOf(rest.subarray(0, close).toString('latin1')) : undefined;
      if (outcome) {
        this.#outcome = outcome;
        this.#pending = Buffer.alloc(0);
        return Buffer.concat([data.subarray(0, at), rest.subarray(close + 1)]);
      }
      // Not a frame after all: everything goes on.
      this.#pending = Buffer.alloc(0);
      return data;
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

function partialAtEnd(data: Buffer, token: Buffer): number {
  for (let n = Math.min(token.length - 1, data.length); n > 0; n--) {
    if (data.subarray(data.length - n).equals(token.subarray(0, n))) return n;
  }
  return 0;
}
