// Bounded capture and line splitting without a transport: bytes arriving in arbitrary chunks, lines
// longer than MAX_LINE cut into pieces (never inside a character), NUL bytes kept.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineSplitter, MAX_LINE, OutputCapture } from '../../src/process/capture.js';

/** Lines from `bytes` fed in chunks of `size` (so that chunks also cut UTF-8 sequences). */
function split(bytes: Buffer, size: number): string[] {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  for (let i = 0; i < bytes.length; i += size) s.push(bytes.subarray(i, i + size));
  s.end();
  return lines;
}

/** A lone surrogate: half of a character, printed as U+FFFD. */
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('line splitting', () => {
  test('lines in any chunking, CRLF stripped, NUL bytes kept, a last line without newline', () => {
    const bytes = Buffer.from('one\r\ntwo\0three\n\nlast');
    for (const size of [1, 3, 1000]) assert.deepEqual(split(bytes, size), ['one', 'two\0three', '', 'last']);
  });

  test('a line longer than MAX_LINE comes in pieces of at most MAX_LINE characters, each whole characters', () => {
    // One ASCII character first, so that a cut at MAX_LINE falls inside an emoji's surrogate pair.
    const long = 'x' + '😀'.repeat(MAX_LINE);
    const lines = split(Buffer.from(`${long}\nnext\n`), 1000);
    assert.equal(lines.at(-1), 'next');
    const pieces = lines.slice(0, -1);
    assert.ok(pieces.length >= 2, `${pieces.length} pieces`);
    assert.equal(pieces.join(''), long, 'nothing lost or added');
    for (const p of pieces) {
      assert.ok(p.length <= MAX_LINE, `a piece of ${p.length} characters`);
      assert.doesNotMatch(p, LONE, 'a piece ends or starts inside a character');
    }
  });

  test('pieces keep their order with the lines around them, in any chunking', () => {
    const long = 'z'.repeat(2 * MAX_LINE + 5);
    const bytes = Buffer.from(`a\n${long}\r\nb\n${long}`);
    for (const size of [bytes.length, 4096]) {
      const lines = split(bytes, size);
      assert.deepEqual(
        lines.map((l) => l.length),
        [1, MAX_LINE, MAX_LINE, 5, 1, MAX_LINE, MAX_LINE, 5],
      );
      assert.deepEqual([lines[0], lines[4]], ['a', 'b']);
    }
  });

  test('a 20 MiB line without a newline is delivered in MAX_LINE pieces as it arrives, not held to its end', () => {
    const pieces: number[] = [];
    const s = new LineSplitter((l) => pieces.push(l.length));
    const chunk = Buffer.alloc(32 * 1024, 'y');
    for (let i = 0; i < 640; i++) s.push(chunk);
    // Before the end, all but the last partial piece have been delivered.
    assert.equal(pieces.reduce((a, b) => a + b, 0) >= 20 * 1024 * 1024 - MAX_LINE, true);
    s.end();
    assert.equal(
      pieces.reduce((a, b) => a + b, 0),
      20 * 1024 * 1024,
    );
    assert.ok(pieces.every((n) => n === MAX_LINE));
  });
});

describe('output capture', () => {
  test('keeps the first cap bytes, counts the rest, flags truncation and keeps the stderr tail', () => {
    const c = new OutputCapture(10, true);
    c.push(Buffer.from('0123456789abc\nlast line\n'));
    assert.equal(c.buffer().toString(), '0123456789');
    assert.equal(c.truncated, true);
    assert.equal(c.totalBytes, 24);
    assert.equal(c.tail(), '0123456789abc\nlast line');
  });
});
