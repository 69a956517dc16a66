// printable(): every control character a host could use against a terminal is shown as a visible
// escape; TAB, LF and ordinary text (any script, emoji, U+FFFD) come through untouched.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { printable } from '../../src/process/printable.js';

const hex2 = (c: number) => c.toString(16).padStart(2, '0');
const hex4 = (c: number) => c.toString(16).padStart(4, '0');

/** Characters that must never reach a terminal raw. */
const DANGEROUS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/** Any code point, with controls, bidi characters and backslashes made common. */
const anyChar = fc.oneof(
  fc.integer({ min: 0, max: 0xa0 }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x2028, max: 0x206f }).map((c) => String.fromCharCode(c)),
  fc.constant('\\'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);

describe('printable', () => {
  test('every C0 control but TAB and LF is escaped; CR as \\r, the rest as \\xHH', () => {
    for (let c = 0; c < 0x20; c++) {
      const ch = String.fromCharCode(c);
      const expected = c === 0x09 || c === 0x0a ? ch : c === 0x0d ? '\\r' : `\\x${hex2(c)}`;
      assert.equal(printable(`a${ch}b`), `a${expected}b`, `U+${hex4(c)}`);
    }
  });

  test('DEL as \\x7f, every C1 control as \\u00HH', () => {
    assert.equal(printable('\x7f'), '\\x7f');
    for (let c = 0x80; c <= 0x9f; c++)
      assert.equal(printable(String.fromCharCode(c)), `\\u${hex4(c)}`, `U+${hex4(c)}`);
  });

  test('bidi embeddings, overrides and isolates are escaped', () => {
    for (const c of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069])
      assert.equal(printable(`x${String.fromCharCode(c)}y`), `x\\u${hex4(c)}y`);
  });

  test('the hostile line of the issue becomes one visible line', () => {
    assert.equal(
      printable('\x1b]0;PWNED\x07\x1b[2Jhidden\rFAKE: ok\n'),
      '\\x1b]0;PWNED\\x07\\x1b[2Jhidden\\rFAKE: ok\n',
    );
    assert.equal(printable('\x1b]52;c;aGk=\x1b\\'), '\\x1b]52;c;aGk=\\x1b\\');
  });

  test('a CR that ends a line (CRLF output) goes; a CR inside a line is shown', () => {
    assert.equal(printable('one\r\ntwo\r\n'), 'one\ntwo\n');
    assert.equal(printable('last\r'), 'last');
    assert.equal(printable('50%\r100%\r\n'), '50%\\r100%\n');
  });

  test('ordinary text is returned as is', () => {
    for (const s of [
      '',
      'plain ascii ~!@#$%^&*()_+{}|:"<>?`-=[]\\;\',./',
      'tab\there\nand a newline',
      'déjà vu, 日本語, العربية, עברית, 😀, U+00A0:\u00a0, soft hyphen:\u00ad',
      'invalid UTF-8 decoded: \ufffd\ufffd',
      'C:\\path\\x1b is text, not ESC',
    ])
      assert.equal(printable(s), s);
  });

  test('no dangerous character survives, whatever the input; the rest is kept, in order', () => {
    fc.assert(
      fc.property(fc.string({ unit: anyChar, maxLength: 200 }), (s) => {
        const out = printable(s);
        assert.doesNotMatch(out, DANGEROUS);
        // Character by character: each is either itself or its escape (CRs that end a line go).
        const kept = [...s.replace(/\r+(?=\n|$)/g, '')];
        assert.equal(
          out,
          kept.map((ch) => (!DANGEROUS.test(ch) ? ch : ch === '\r' ? '\\r' : printable(ch))).join(''),
        );
        assert.equal(printable(out), out);
      }),
    );
  });
});
