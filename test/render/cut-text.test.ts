// Cutting a host's output for a summary: lines, characters, what is left, and never inside a
// character or an escape sequence.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { printable } from '../../src/process/printable.js';
import { cutText } from '../../src/render/cut-text.js';

describe('cutText', () => {
  test('a text within both limits is whole', () => {
    assert.deepEqual(cutText('a\nb', 10, 500), { shown: 'a\nb', moreBytes: 0, moreLines: 0 });
  });

  test('cut after n lines: the bytes and lines left', () => {
    const text = ['one', 'two', 'three', 'four'].join('\n');
    assert.deepEqual(cutText(text, 2, 500), { shown: 'one\ntwo', moreBytes: 11, moreLines: 2 });
  });

  test('one long line is cut by characters; the rest of it is bytes, not lines', () => {
    const text = 'é'.repeat(1000) + '\nnext';
    const cut = cutText(text, 10, 300);
    assert.equal(cut.shown, 'é'.repeat(300));
    assert.equal(cut.moreBytes, 700 * 2 + 5);
    assert.equal(cut.moreLines, 1);
  });

  test('never between the two halves of a character', () => {
    const cut = cutText('ab😀cd', 1, 3);
    assert.equal(cut.shown, 'ab');
    assert.equal(cut.moreBytes, Buffer.byteLength('😀cd'));
  });

  test('never inside an escape sequence: the cut goes before one that does not end in time', () => {
    // An OSC title cut open would swallow what follows it on a terminal (with --raw).
    assert.equal(cutText('abc\x1b]0;a long title\x07rest', 1, 10).shown, 'abc');
    assert.equal(cutText('abc\x1b[38;5;196mred', 1, 8).shown, 'abc');
    assert.equal(cutText('abc\x1bXYZ', 1, 4).shown, 'abc', 'a lone ESC at the cut');
    assert.equal(cutText('ab\x1b[1mcdefgh', 1, 9).shown, 'ab\x1b[1mcde', 'an ended sequence stays');
    assert.equal(cutText('ab\x1b]0;t\x1b\\cdefgh', 1, 12).shown, 'ab\x1b]0;t\x1b\\cde', 'an OSC ended by ST');
    assert.equal(cutText('ab\x9b31mcd', 1, 5).shown, 'ab', 'a C1 CSI');
    // What is shown is escaped whole: no half of an escape reaches the terminal.
    assert.equal(printable(cutText('abc\x1b]52;c;Zm9v\x07', 1, 8).shown), 'abc');
  });
});
