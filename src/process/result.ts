// The outcome of one command on one host. Output is kept as bytes (binary-safe) up to a cap per
// stream; `stdout`/`stderr` decode them as UTF-8 on first read.

export interface CommandResultInit {
  host: string;
  command: string;
  exitCode: number | null;
  signal: string | null;
  stdoutBuffer: Buffer;
  stderrBuffer: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** Last bytes of stderr as printed, kept even past the cap, for error messages. */
  stderrTail: string;
  durationMs: number;
}

export class CommandResult {
  readonly host: string;
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdoutBuffer: Buffer;
  readonly stderrBuffer: Buffer;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  readonly stderrTail: string;
  readonly durationMs: number;
  #stdout: string | undefined;
  #stderr: string | undefined;

  constructor(init: CommandResultInit) {
    this.host = init.host;
    this.command = init.command;
    this.exitCode = init.exitCode;
    this.signal = init.signal;
    this.stdoutBuffer = init.stdoutBuffer;
    this.stderrBuffer = init.stderrBuffer;
    this.stdoutTruncated = init.stdoutTruncated;
    this.stderrTruncated = init.stderrTruncated;
    this.stderrTail = init.stderrTail;
    this.durationMs = init.durationMs;
  }

  get stdout(): string {
    return (this.#stdout ??= this.stdoutBuffer.toString('utf8'));
  }
  get stderr(): string {
    return (this.#stderr ??= this.stderrBuffer.toString('utf8'));
  }
  /** True when the command exited with code 0 and no signal. */
  get ok(): boolean {
    return this.exitCode === 0 && this.signal === null;
  }
  /** Either truncation flag. */
  get truncated(): boolean {
    return this.stdoutTruncated || this.stderrTruncated;
  }
  /** Trimmed stdout: what a result becomes when interpolated into another command. */
  toString(): string {
    return this.stdout.trim();
  }
  toJSON() {
    return {
      host: this.host,
      command: this.command,
      exitCode: this.exitCode,
      signal: this.signal,
      ok: this.ok,
      stdout: this.stdout,
      stderr: this.stderr,
      stdoutTruncated: this.stdoutTruncated,
      stderrTruncated: this.stderrTruncated,
      durationMs: this.durationMs,
    };
  }
}
