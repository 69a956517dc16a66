// The frames of a persistent shell session (src/ssh/shell-session.ts) as they are read: a command's
// bytes are those between `TOKEN S\n` and `TOKEN E` on each stream, and the status is the line after
// `TOKEN E` on stdout. Hand-written: the framing is ours, and is made to be written by a shell.
import type { ExecOutcome } from '../process/executor.js';

/** Linux signal numbers (the driver needs /proc, so the host is Linux). */
const SIGNALS = [
  '',
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGILL',
  'SIGTRAP',
  'SIGABRT',
  'SIGBUS',
  'SIGFPE',
  'SIGKILL',
  'SIGUSR1',
  'SIGSEGV',
  'SIGUSR2',
  'SIGPIPE',
  'SIGALRM',
  'SIGTERM',
  'SIGSTKFLT',
  'SIGCHLD',
  'SIGCONT',
  'SIGSTOP',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGURG',
  'SIGXCPU',
  'SIGXFSZ',
  'SIGVTALRM',
  'SIGPROF',
  'SIGWINCH',
  'SIGIO',
  'SIGPWR',
  'SIGSYS',
];

/** One stream's frames: bytes between `TOKEN S\n` and `TOKEN E` are the command's. */
export class Demux {
  #token: Buffer | undefined;
  #state: 'idle' | 'before' | 'in' | 'trailer' | 'done' = 'idle';
  #held = Buffer.alloc(0);
  #trailer = '';

  constructor(
    private readonly onData: (chunk: Buffer) => void,
    private readonly onEnd: () => void,
  ) {}

  expect(token: string): void {
    this.#token = Buffer.from(token, 'latin1');
    this.#state = 'before';
    this.#held = Buffer.alloc(0);
    this.#trailer = '';
  }

  /** Whether the end frame of the current command was read. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** What followed the end frame on its line (stdout: the status). */
  get trailer(): string {
    return this.#trailer;
  }

  push(chunk: Buffer): void {
    if (this.#state === 'idle' || this.#state === 'done') return; // between commands: not a command's
    let buf = this.#held.length ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = Buffer.alloc(0);
    const token = this.#token!;
    while (buf.length > 0) {
      if (this.#state === 'trailer') {
        const nl = buf.indexOf(0x0a);
        const part = nl < 0 ? buf : buf.subarray(0, nl);
        this.#trailer += part.toString('latin1');
        if (this.#trailer.length > 64) this.#trailer = this.#trailer.slice(0, 64);
        if (nl < 0) return;
        this.#state = 'done';
        this.onEnd();
        return;
      }
      const at = buf.indexOf(token);
      if (at < 0) {
        // Keep back the longest end of the chunk that could begin the token.
        const keep = partialTokenAt(buf, token);
        if (this.#state === 'in' && keep > 0) this.onData(buf.subarray(0, buf.length - keep));
        else if (this.#state === 'in') this.onData(buf);
        this.#held = Buffer.from(buf.subarray(buf.length - keep));
        return;
      }
      const tag = buf[at + token.length];
      if (tag === undefined) {
        if (this.#state === 'in' && at > 0) this.onData(buf.subarray(0, at));
        this.#held = Buffer.from(buf.subarray(at));
        return;
      }
      if (this.#state === 'before') {
        // Bytes before the start frame are a stray writer's from an earlier command: dropped.
        if (tag === 0x53 /* S */ && buf[at + token.length + 1] === undefined) {
          this.#held = Buffer.from(buf.subarray(at));
          return;
        }
        buf = buf.subarray(at + token.length + (tag === 0x53 ? 2 : 1));
        if (tag === 0x53) this.#state = 'in';
        continue;
      }
      // In the command's output: the end frame.
      if (at > 0) this.onData(buf.subarray(0, at));
      buf = buf.subarray(at + token.length);
      if (tag === 0x45 /* E */) {
        this.#state = 'trailer';
        buf = buf.subarray(1);
        continue;
      }
      // The token followed by anything else cannot come from the driver: not a frame; skip it.
    }
  }
}

/** How many bytes at the end of `buf` are a proper beginning of `token`. */
function partialTokenAt(buf: Buffer, token: Buffer): number {
  const max = Math.min(token.length - 1, buf.length);
  for (let n = max; n > 0; n--) {
    if (buf.compare(token, 0, n, buf.length - n) === 0) return n;
  }
  return 0;
}

/** `STATUS RECORDED` of the end frame as an outcome (see the header on the exit status). */
export function outcomeOf(trailer: string): ExecOutcome | undefined {
  const m = /^(\d{1,3}) (\d{0,3})$/.exec(trailer);
  if (!m) return undefined;
  const status = Number(m[1]);
  const trapped = m[2] === '' ? undefined : Number(m[2]);
  if (status > 255) return undefined;
  if (trapped === status || status <= 128) return { exitCode: status, signal: null };
  const signal = SIGNALS[status - 128];
  return signal ? { exitCode: null, signal } : { exitCode: status, signal: null };
}
