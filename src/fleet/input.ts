// What a fleet run sends to every host's command (the `stdin` option, `fleet.script()`): the same
// bytes to each host, read once. Text and Buffers are sent as they are. A stream can be read only
// once, so it is spooled as it arrives to a temporary file that is unlinked as soon as it is
// created (nothing is left behind, whatever happens to the process); each host reads the spool from
// the start with its own position, following it while the stream is still coming, so the first
// hosts start at once and a host started (or retried) later gets the same bytes. A `{ file }` is
// opened once and read the same way, up to the size it had when opened.
//
// Memory stays bounded whatever the input's size, so `tar c ... | fleetsh run ... tar x` needs no
// cap: each host holds at most a chunk or two of it. bench/stdin-input.ts sent 1 GiB to 8 hosts:
// peak RSS 178 MiB through the spool (about 105 MiB at rest) against 1.18 GiB with the input held
// in one Buffer, for twice the CPU (16.5 s against 8.7 s; docs/benchmarks.md).
import { randomBytes } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UsageError } from '../process/errors.js';
import { describeIoError } from '../process/io-error.js';

/** The input of every host's command: text, bytes, a stream (read once), or a file. */
export type FleetInput = string | Buffer | Readable | { file: string };

/** One run's input: what each host's command gets, and the end of it once the run is over. */
export interface RunInput {
  /** The bytes, or a fresh stream of them from the start, for one host's command. */
  open(): string | Buffer | Readable;
  /** Stops reading the source and closes the spool (after reads in flight). */
  close(): Promise<void>;
}

/**
 * Bytes a host reads from the spool at a time (and holds at most, beside one in flight). Reading
 * 1 GiB from the page cache took 460 ms of CPU in 64 KiB reads, 225 ms in 256 KiB reads and
 * 175 ms in 1 MiB reads (Node 20): 256 KiB keeps most of that gain at a quarter of the memory.
 */
const CHUNK = 256 * 1024;

/** Streams that a run has taken: a stream can be read by one run only. */
const taken = new WeakSet<Readable>();

/** Checks the option's shape (the boundary of FleetOptions): a stream or a file is opened by the run. */
export function checkInput(input: unknown): asserts input is FleetInput | undefined {
  if (input === undefined || typeof input === 'string' || Buffer.isBuffer(input) || input instanceof Readable)
    return;
  if (
    typeof input === 'object' &&
    input !== null &&
    typeof (input as { file?: unknown }).file === 'string' &&
    (input as { file: string }).file !== ''
  )
    return;
  throw new UsageError(
    'option stdin: expected text, a Buffer, a readable stream or { file: path }, ' +
      `got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`,
  );
}

/**
 * The input of one run. A stream another run took, or a file that cannot be read, is a
 * UsageError here, before anything runs.
 */
export function runInput(input: FleetInput): RunInput {
  checkInput(input);
  if (typeof input === 'string' || Buffer.isBuffer(input))
    return { open: () => input, close: async () => {} };
  if (input instanceof Readable) {
    if (taken.has(input) || input.readableEnded || input.destroyed) {
      throw new UsageError(
        'option stdin: this stream was already read (by an earlier run); a stream feeds one run: ' +
          'give a Buffer or { file } to run several times with the same input',
      );
    }
    taken.add(input);
    return new SharedInput('the input stream', (spool) => spool.fill(input), input);
  }
  const { file } = input;
  let regular: boolean;
  try {
    const stat = statSync(file);
    if (stat.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    regular = stat.isFile();
  } catch (e) {
    throw new UsageError(`option stdin: cannot read ${file}: ${describeIoError(e)}`, { cause: e });
  }
  // A pipe or a device (`<(command)`, /dev/stdin) can be read only once: spooled as a stream.
  return new SharedInput(file, (spool) =>
    regular ? spool.openFile(file) : spool.fill(createReadStream(file)),
  );
}

class SharedInput implements RunInput {
  readonly #what: string;
  readonly #begin: (spool: SharedInput) => Promise<FileHandle>;
  #ready: Promise<FileHandle> | undefined;
  #size = 0;
  #ended = false;
  #closed = false;
  #failure: Error | undefined;
  #source: Readable | undefined;
  readonly #waiting = new Set<() => void>();
  /** Set while the spool is being made or written: a failure then is the spool's, not the source's. */
  #keeping = false;

  constructor(what: string, begin: (spool: SharedInput) => Promise<FileHandle>, source?: Readable) {
    this.#what = what;
    this.#begin = begin;
    this.#source = source; // closed with the run, read or not
  }

  open(): Readable {
    // Started by the first host that needs it: a run whose hosts are all unreachable reads nothing.
    this.#ready ??= this.#begin(this).catch((e: unknown) => {
      throw (this.#failure ??= this.#explain(e, this.#keeping));
    });
    let position = 0;
    const input = this;
    return new Readable({
      highWaterMark: CHUNK,
      read() {
        input.#read(position).then(
          (chunk) => {
            if (chunk === null) return void this.push(null);
            position += chunk.length;
            this.push(chunk);
          },
          (e: unknown) => this.destroy(e as Error),
        );
      },
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#source?.destroy();
    this.#wake();
    const handle = await this.#ready?.catch(() => undefined);
    await handle?.close(); // waits for reads in flight
  }

  /** A file, read as it is now: its size when opened bounds what every host gets. */
  async openFile(path: string): Promise<FileHandle> {
    const handle = await open(path, 'r');
    this.#size = (await handle.stat()).size;
    this.#ended = true;
    return handle;
  }

  /** A spool for a stream: an unlinked temporary file, filled as the stream comes. */
  async fill(source: Readable): Promise<FileHandle> {
    this.#source = source;
    const path = join(tmpdir(), `fleetsh-input-${process.pid}-${randomBytes(6).toString('hex')}`);
    this.#keeping = true;
    const handle = await open(path, 'wx+', 0o600);
    await unlink(path);
    this.#keeping = false;
    void this.#pump(source, handle);
    return handle;
  }

  async #pump(source: Readable, handle: FileHandle): Promise<void> {
    try {
      for await (const data of source as AsyncIterable<Buffer | string>) {
        if (this.#closed) return;
        const chunk = typeof data === 'string' ? Buffer.from(data) : data;
        this.#keeping = true;
        for (let at = 0; at < chunk.length;) {
          const { bytesWritten } = await handle.write(chunk, at, chunk.length - at, this.#size);
          at += bytesWritten;
          this.#size += bytesWritten;
        }
        this.#keeping = false;
        this.#wake();
      }
      this.#ended = true;
    } catch (e) {
      if (!this.#closed) this.#failure ??= this.#explain(e, this.#keeping);
    } finally {
      this.#wake();
    }
  }

  /** The next chunk at `position`, waiting while the source is still coming; null at the end. */
  async #read(position: number): Promise<Buffer | null> {
    const handle = await this.#ready!;
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (position < this.#size) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, this.#size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        // A file cut shorter while the run reads it ends there.
        return bytesRead === 0 ? null : buffer.subarray(0, bytesRead);
      }
      if (this.#ended) return null;
      // The run is over: a host still reading must not take what it got for the whole input.
      if (this.#closed) throw new Error(`${this.#what} was closed with the run before its end`);
      await new Promise<void>((resolve) => this.#waiting.add(resolve));
    }
  }

  #wake(): void {
    for (const resolve of this.#waiting) resolve();
    this.#waiting.clear();
  }

  /** What went wrong, for the hosts whose command it stops (src/fleet/line.ts names the host). */
  #explain(e: unknown, keeping: boolean): Error {
    const message = keeping
      ? `${this.#what} could not be kept for every host in ${tmpdir()}: ${describeIoError(e)}; ` +
        'set TMPDIR to a writable folder with room for it'
      : `${this.#what} could not be read: ${describeIoError(e)}`;
    return new Error(message, { cause: e });
  }
}
