// --json written in pieces (src/cli/render/json.ts): the same text as JSON.stringify(value, null, 2)
// for every shape a report has, and a document longer than V8's longest string.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsonPieces, writeJson } from '../../src/cli/render/json.js';
import { FleetReport } from '../../src/fleet/report.js';
import { hostResult as host } from '../fleet/helpers.js';

const same = (value: unknown) =>
  assert.equal([...jsonPieces(value)].join(''), JSON.stringify(value, null, 2));

describe('jsonPieces', () => {
  test('writes what JSON.stringify(value, null, 2) writes', () => {
    same({ a: 1, b: 'x\u001b\n"', c: [1, 'two', null, undefined, () => 1], d: undefined, e: () => 2 });
    same({ empty: [], none: {}, nested: [[], [{}], { x: [] }], n: [NaN, Infinity, -0, 1.5e300] });
    same({ when: new Date(0), boxed: [new Number(3), new String('s'), new Boolean(false)] });
    same({ custom: { toJSON: (key: string) => ({ key, deep: { toJSON: () => 'once' } }) } });
    same([]);
    same('text');
    same(null);
    same(12);
  });

  test('on one line, as JSON.stringify(value) writes it (--ndjson)', () => {
    const value = { a: [1, { b: [], c: {} }, undefined], d: 'x\n', e: undefined, f: new Date(0) };
    assert.equal([...jsonPieces(value, 0)].join(''), JSON.stringify(value));
  });

  test('a fleet report, through its toJSON', () => {
    const report = new FleetReport(
      [host('web1', 0, { stdout: 'a\x1b[2J\n' }), host('web2', 1, { stdout: 'a\x1b[2J\n' })],
      { command: 'echo', startedAt: new Date(0), wallMs: 5, stopped: null, peakConcurrency: 2 },
    );
    same({ ...report.toJSON(), interrupted: false, exitCode: 0 });
  });

  test('a document longer than a string can be is written in pieces', () => {
    const output = 'x'.repeat(1024 * 1024);
    // 600 MiB of characters: JSON.stringify throws "Invalid string length" for it.
    const doc = { hosts: Array.from({ length: 600 }, (_, i) => ({ host: `h${i}`, stdout: output })) };
    assert.throws(() => JSON.stringify(doc), RangeError);
    let bytes = 0;
    let pieces = 0;
    let last = '';
    writeJson(doc, (text) => {
      bytes += text.length;
      pieces++;
      last = text;
    });
    assert.ok(bytes > 600 * 1024 * 1024, `${bytes} characters`);
    assert.ok(pieces >= 600, `${pieces} writes`);
    assert.ok(last.endsWith('\n  ]\n}\n'));
  });
});
