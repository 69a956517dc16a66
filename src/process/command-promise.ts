// The lazy command promise: nothing runs until it is awaited, iterated or asked for text.
// Options chain (`.nothrow().timeout('30s')`) before that; the transport is an Executor.
import type { Readable } from 'node:stream';
import { DEFAULT_MAX_OUTPUT, LineSplitter, OutputCapture } from './capture.js';
import { parseDuration, type Duration } from './duration.js';
import { isEnvName } from './env.js';
import { CancelledError, CommandError, TimeoutError, UsageError } from './errors.js';
import { ptyOf, sudoOf, type PtyOptions, type SudoOptions } from './exec-options.js';
import { KillRequest, type Executor } from './executor.js';
import { printable } from './printable.js';
import { CommandResult } from './result.js';

export type Stdin = string | Buffer | Readable;
export type LineListener = (stream: 'stdout' | 'stderr', line: string) => void;
export type DataListener = (stream: 'stdout' | 'stderr', chunk: Buffer) => void;

/** Defaults a shell (`$`, `$.ssh(host)`) gives each of its commands; `.with()` changes them. */
export interface CommandOptions {
  /** Resolve instead of reject when the command exits non-zero or is killed by a signal. */
  nothrow?: boolean;
  /** Print the command and its output to stderr, prefixed by the host. */
  verbose?: boolean;
  /** Kill the command (on its host) after this long: ms or '30s'. */
  timeout?: Duration;
  env?: Record<string, string>;
  cwd?: string;
  /** Cap per stream on the bytes kept in the result (default 16 MiB). */
  maxOutput?: number;
  /** Cancels the command: it is killed and the promise rejects with a CancelledError. */
  signal?: AbortSignal;
  /**
   * A pseudo-terminal (SSH only): stdout and stderr arrive merged on stdout, lines end in CRLF,
   * input is echoed and its end is sent as ^D, and the command dies when the terminal closes.
   */
  pty?: boolean | PtyOptions;
  /** Through sudo on the host (SSH only): `true` (root) or `{ user, password }`. */
  sudo?: boolean | SudoOptions;
}

export function validateEnv(env: Record<string, unknown>, host?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!isEnvName(name)) {
      throw new UsageError(
        `${host ? host + ': ' : ''}invalid environment variable name ${JSON.stringify(name)}`,
      );
    }
    if (value === undefined || value === null) continue;
    out[name] = String(value);
  }
  return out;
}

export class CommandPromise implements PromiseLike<CommandResult>, AsyncIterable<string> {
  readonly command: string;
  readonly #executor: Executor;
  #opts: CommandOptions;
  #stdin: Stdin | undefined;
  #run: Promise<CommandResult> | undefined;
  readonly #controller = new AbortController();
  readonly #listeners: LineListener[] = [];
  readonly #dataListeners: DataListener[] = [];

  constructor(executor: Executor, command: string, options: CommandOptions = {}) {
    this.#executor = executor;
    this.command = command;
    this.#opts = { ...options };
  }

  get host(): string {
    return this.#executor.host;
  }

  nothrow(value = true): this {
    return this.#set({ nothrow: value });
  }
  /** Do not print this command even when the shell is verbose. */
  quiet(value = true): this {
    return this.#set({ verbose: !value });
  }
  verbose(value = true): this {
    return this.#set({ verbose: value });
  }
  timeout(duration: Duration): this {
    parseDuration(duration, 'timeout', this.host);
    return this.#set({ timeout: duration });
  }
  env(vars: Record<string, string | number | boolean | undefined>): this {
    return this.#set({ env: { ...this.#opts.env, ...validateEnv(vars, this.host) } });
  }
  cwd(dir: string): this {
    return this.#set({ cwd: dir });
  }
  maxOutput(bytes: number): this {
    if (!Number.isInteger(bytes) || bytes < 0)
      throw new UsageError(`maxOutput: expected a byte count, got ${bytes}`);
    return this.#set({ maxOutput: bytes });
  }
  stdin(input: Stdin): this {
    this.#assertNotStarted();
    this.#stdin = input;
    return this;
  }
  /** Run on a pseudo-terminal (`true`, or `{ term, rows, cols }`); see CommandOptions.pty. */
  pty(value: boolean | PtyOptions = true): this {
    ptyOf(value, `${this.host}: pty`);
    return this.#set({ pty: value });
  }
  /** Cancel through an AbortSignal: the command is killed and the promise rejects with CancelledError. */
  cancelSignal(signal: AbortSignal): this {
    return this.#set({ signal });
  }
  /** Receive output line by line, as it arrives, with its stream. */
  onLine(listener: LineListener): this {
    this.#assertNotStarted();
    this.#listeners.push(listener);
    return this;
  }
  /** Receive output as the bytes arrive, exactly (no decoding, no line splitting), with its stream. */
  onData(listener: DataListener): this {
    this.#assertNotStarted();
    this.#dataListeners.push(listener);
    return this;
  }

  /** Send a signal to the running command (default SIGTERM, then SIGKILL after 2 s). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(new KillRequest(signal));
  }

  then<T1 = CommandResult, T2 = never>(
    onfulfilled?: ((value: CommandResult) => T1 | PromiseLike<T1>) | null,
    onrejected?: ((reason: any) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.#start().then(onfulfilled, onrejected);
  }
  catch<T = never>(onrejected?: ((reason: any) => T | PromiseLike<T>) | null): Promise<CommandResult | T> {
    return this.#start().catch(onrejected);
  }
  finally(onfinally?: (() => void) | null): Promise<CommandResult> {
    return this.#start().finally(onfinally);
  }
  get [Symbol.toStringTag](): string {
    return 'CommandPromise';
  }

  /** Trimmed-at-end stdout. */
  async text(): Promise<string> {
    return (await this).stdout;
  }
  async json<T = unknown>(): Promise<T> {
    const result = await this;
    try {
      return JSON.parse(result.stdout) as T;
    } catch (e) {
      throw new UsageError(
        `${this.host}: output of \`${this.command}\` is not JSON: ${(e as Error).message}`,
      );
    }
  }

  /** Stdout line by line as it arrives; throws at the end if the command failed (unless nothrow). */
  lines(): AsyncIterable<string> {
    return { [Symbol.asyncIterator]: () => this.#iterateLines() };
  }
  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.#iterateLines();
  }

  async *#iterateLines(): AsyncGenerator<string> {
    const queue: string[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    let failure: unknown;
    this.onLine((stream, line) => {
      if (stream !== 'stdout') return;
      queue.push(line);
      wake?.();
    });
    this.#start().then(
      () => ((done = true), wake?.()),
      (e) => ((failure = e), (done = true), wake?.()),
    );
    try {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift()!;
          continue;
        }
        if (done) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      if (failure !== undefined) throw failure;
    } finally {
      if (!done) this.kill(); // the consumer stopped early: do not leave the command running
    }
  }

  #set(patch: Partial<CommandOptions>): this {
    this.#assertNotStarted();
    this.#opts = { ...this.#opts, ...patch };
    return this;
  }

  #assertNotStarted(): void {
    if (this.#run) throw new UsageError(`${this.host}: cannot change a command that has already started`);
  }

  #start(): Promise<CommandResult> {
    return (this.#run ??= this.#execute());
  }

  async #execute(): Promise<CommandResult> {
    const opts = this.#opts;
    const host = this.host;
    const timeoutMs = opts.timeout === undefined ? undefined : parseDuration(opts.timeout, 'timeout', host);
    const pty = ptyOf(opts.pty, `${host}: pty`);
    const sudo = sudoOf(opts.sudo, `${host}: sudo`);
    const external = opts.signal;
    if (external?.aborted) throw new CancelledError(host, this.command, undefined, external.reason);
    if (this.#controller.signal.aborted)
      throw new CancelledError(host, this.command, undefined, 'killed before it started');

    const cap = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
    const out = new OutputCapture(cap);
    const err = new OutputCapture(cap, true);
    const listeners = [...this.#listeners];
    const dataListeners = [...this.#dataListeners];
    if (opts.verbose) listeners.push(verbosePrinter(host));
    const splitters =
      listeners.length === 0
        ? undefined
        : {
            stdout: new LineSplitter((l) => listeners.forEach((f) => f('stdout', l))),
            stderr: new LineSplitter((l) => listeners.forEach((f) => f('stderr', l))),
          };
    if (opts.verbose) process.stderr.write(printable(`$ ${host}: ${this.command}`) + '\n');

    let timedOut = false;
    let cancelled = false;
    let timer: NodeJS.Timeout | undefined;
    const onExternalAbort = () => {
      cancelled = true;
      this.#controller.abort(new KillRequest('SIGTERM'));
    };
    external?.addEventListener('abort', onExternalAbort, { once: true });

    const started = performance.now();
    const makeResult = (exitCode: number | null, signal: string | null) =>
      new CommandResult({
        host,
        command: this.command,
        exitCode,
        signal,
        stdoutBuffer: out.buffer(),
        stderrBuffer: err.buffer(),
        stdoutTruncated: out.truncated,
        stderrTruncated: err.truncated,
        stderrTail: err.tail(),
        durationMs: Math.round(performance.now() - started),
      });

    let outcome;
    try {
      // The timeout is the command's: it starts once the host is reached (which has its own timeout).
      if (this.#executor.ready) {
        try {
          await this.#executor.ready(this.#controller.signal);
        } catch (e) {
          if (!this.#controller.signal.aborted) throw e;
          throw new CancelledError(
            host,
            this.command,
            undefined,
            cancelled ? external?.reason : 'killed before it started',
          );
        }
      }
      if (timeoutMs !== undefined)
        timer = setTimeout(() => {
          timedOut = true;
          this.#controller.abort(new KillRequest('SIGTERM'));
        }, timeoutMs);
      outcome = await this.#executor.exec({
        command: this.command,
        env: opts.env,
        cwd: opts.cwd,
        stdin: this.#stdin,
        signal: this.#controller.signal,
        ...(pty ? { pty } : {}),
        ...(sudo ? { sudo } : {}),
        onData: (stream, chunk) => {
          (stream === 'stdout' ? out : err).push(chunk);
          splitters?.[stream].push(chunk);
          for (const f of dataListeners) f(stream, chunk);
        },
      });
    } catch (e) {
      if (timedOut) throw new TimeoutError(makeResult(null, null), timeoutMs!);
      if (cancelled) throw new CancelledError(host, this.command, makeResult(null, null), external?.reason);
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      external?.removeEventListener('abort', onExternalAbort);
      splitters?.stdout.end();
      splitters?.stderr.end();
    }
    const result = makeResult(outcome.exitCode, outcome.signal);
    if (timedOut) throw new TimeoutError(result, timeoutMs!);
    if (cancelled) throw new CancelledError(host, this.command, result, external?.reason);
    if (outcome.failure) throw outcome.failure(result);
    if (!result.ok && !opts.nothrow) throw new CommandError(result);
    return result;
  }
}

/** Verbose mode's live lines: the host's bytes are shown with control characters escaped. */
function verbosePrinter(host: string): LineListener {
  return (stream, line) =>
    process.stderr.write(printable(`${host}${stream === 'stderr' ? ' (stderr)' : ''}: ${line}`) + '\n');
}
