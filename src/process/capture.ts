// Bounded output capture: whatever a command prints, memory per stream stays under the cap.

/** Default cap per stream and per command: 16 MiB. Past it, results say `stdoutTruncated`. */
export const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
/**
 * The longest line delivered to line listeners, in characters: a longer line comes as several
 * pieces of at most this length, as it arrives, so a line without end holds no more than this.
 */
export const MAX_LINE = 64 * 1024;
const TAIL_BYTES = 4096;

/** Keeps the first `cap` bytes of a stream, counts the rest, and (optionally) a short tail. */
export class OutputCapture {
  readonly #cap: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #total = 0;
  #tail: Buffer | undefined;

  constructor(cap: number, keepTail = false) {
    this.#cap = cap;
    if (keepTail) this.#tail = Buffer.alloc(0);
  }

  push(chunk: Buffer): void {
    this.#total += chunk.length;
    const room = this.#cap - this.#kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.#chunks.push(Buffer.from(part)); // copy: the transport may reuse its buffer
      this.#kept += part.length;
    }
    if (this.#tail) {
      const joined = Buffer.concat([this.#tail, chunk.subarray(Math.max(0, chunk.length - TAIL_BYTES))]);
      this.#tail = joined.subarray(Math.max(0, joined.length - TAIL_BYTES));
    }
  }

  get truncated(): boolean {
    return this.#total > this.#kept;
  }
  get totalBytes(): number {
    return this.#total;
  }
  buffer(): Buffer {
    return Buffer.concat(this.#chunks, this.#kept);
  }
  /** The last lines of the stream, whole lines only, at most 4 KiB. */
  tail(): string {
    if (!this.#tail || this.#tail.length === 0) return '';
    let text = this.#tail.toString('utf8');
    if (this.#total > this.#tail.length) {
      const nl = text.indexOf('\n');
      if (nl >= 0 && nl < text.length - 1) text = text.slice(nl + 1);
    }
    const lines = text.trimEnd().split('\n');
    return lines.slice(-10).join('\n');
  }
}

/** Splits a byte stream into UTF-8 lines (without the newline), cut into pieces of at most MAX_LINE characters. */
export class LineSplitter {
  readonly #decoder = new TextDecoder('utf-8');
  #partial = '';
  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: Buffer): void {
    const text = this.#partial + this.#decoder.decode(chunk, { stream: true });
    const parts = text.split('\n');
    const last = parts.pop()!;
    for (const p of parts) this.emit(this.#cut(stripCR(p)));
    this.#partial = this.#cut(last);
  }

  end(): void {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = '';
    if (rest.length > 0) this.emit(this.#cut(stripCR(rest)));
  }

  /** Emits the leading pieces of a text longer than MAX_LINE; returns the rest (at most MAX_LINE). */
  #cut(text: string): string {
    while (text.length > MAX_LINE) {
      // Never between the two halves of a character (an emoji is two UTF-16 units).
      const high = text.charCodeAt(MAX_LINE - 1);
      const at = high >= 0xd800 && high <= 0xdbff ? MAX_LINE - 1 : MAX_LINE;
      this.emit(text.slice(0, at));
      text = text.slice(at);
    }
    return text;
  }
}

function stripCR(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
