// Fuzzing the host set parser: any string gives a set or a UsageError, never another exception and
// never a hang; whatever parses folds and parses back to the same set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fold, HostSet, HostSetError } from '../../src/inventory/index.js';
import { UsageError } from '../../src/process/errors.js';

/**
 * Per case, parse and fold back included. Most cases take well under a millisecond; a set near the
 * cap takes a few hundred, and more on a machine busy with other tests.
 */
const BOUND_MS = 5_000;

const groups = (name: string) =>
  ({ a: 'a[1-3]', b: ['b1', 'b2'], c: '@d', d: '@c', e: 'x[', f: '@a!a2' })[name];
const files: Record<string, string> = { '/f/x': 'x[1-2]\n# c\n^y', '/f/y': 'y1,@a', '/f/z': '^z' };
const readFile = (path: string) => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
};

interface Stats {
  cases: number;
  parsed: number;
  errors: number;
  worstMs: number;
  worst: string;
  totalMs: number;
}

function check(expr: string, stats: Stats, maxHosts?: number): void {
  const started = performance.now();
  let set: HostSet | undefined;
  try {
    set = HostSet.parse(expr, { groups, readFile, cwd: '/f', maxHosts });
  } catch (e) {
    if (!(e instanceof UsageError)) {
      assert.fail(
        `${JSON.stringify(expr)} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? e}`,
      );
    }
    if (e instanceof HostSetError) {
      assert.ok(e.index >= 0 && e.index <= e.expression.length, `${JSON.stringify(expr)}: caret outside`);
      assert.match(e.message, /\^$/);
    }
    stats.errors++;
  }
  if (set) {
    stats.parsed++;
    const folded = fold(set);
    assert.ok(HostSet.parse(folded, { maxHosts }).equals(set), `${JSON.stringify(expr)} → ${folded}`);
  }
  const ms = performance.now() - started;
  if (ms > stats.worstMs) {
    stats.worstMs = ms;
    stats.worst = expr;
  }
  assert.ok(ms < BOUND_MS, `${JSON.stringify(expr)} took ${ms.toFixed(0)} ms`);
  stats.cases++;
  stats.totalMs += ms;
}

function report(name: string, s: Stats): void {
  console.log(
    `${name}: ${s.cases} cases, ${s.parsed} parsed, ${s.errors} usage errors, ${s.totalMs.toFixed(0)} ms in all, slowest ${s.worstMs.toFixed(1)} ms (${JSON.stringify(s.worst)})`,
  );
}

const fresh = (): Stats => ({ cases: 0, parsed: 0, errors: 0, worstMs: 0, worst: '', totalMs: 0 });

test('random strings over the syntax alphabet: a set or a UsageError, in bounded time', () => {
  const stats = fresh();
  const alphabet = [...'[]-,!&@^/0123456789abcdefghijklmnopqrstuvwxyz.', ' '];
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 40 }), (expr) =>
      check(expr, stats),
    ),
    { numRuns: 2_000 },
  );
  report('characters', stats);
});

test('random sequences of syntax tokens: a set or a UsageError, in bounded time', () => {
  const stats = fresh();
  const tokens = [
    'web',
    'r',
    'n',
    '.prod',
    '[',
    ']',
    '1',
    '01',
    '9',
    '10',
    '-',
    '/',
    '2',
    '0',
    ',',
    '!',
    '&',
    ' ',
    '@a',
    '@b',
    '@c',
    '@e',
    '@f',
    '@zz',
    '^x',
    '^z',
    '^nope',
    '[1-3]',
    '[01-10/3]',
    '[0-99]',
    '[0-9999]',
    '999999',
    '0000000000000000001',
  ];
  fc.assert(
    // A lower cap keeps 2,000 cases quick; the corpus below runs at the default cap.
    fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 16 }), (parts) =>
      check(parts.join(''), stats, 100_000),
    ),
    { numRuns: 2_000 },
  );
  report('tokens', stats);
});

test('a corpus of malformed and hostile inputs', () => {
  const stats = fresh();
  const corpus = [
    'web[1-',
    'web[a-3]',
    'web[3-1]',
    'web[]',
    '[1-2',
    ',,',
    '[',
    ']',
    '[[[[',
    ']]]]',
    '-',
    '/',
    '!',
    '&',
    '@',
    '^',
    '@@',
    '^^',
    'a,',
    ',a',
    'a!!b',
    'web[1-2]]',
    'web[1-2][',
    'web[-1]',
    'web[1--2]',
    'web[1-2/-1]',
    'web[1-2/0]',
    'web[1/2]',
    'web[99999999999999999999]',
    'web[0-999999999999999]',
    'a[0-999]b[0-999]c[0-999]',
    'x[0-1000000]',
    'x[1-1000]y[1-1001]',
    '[0-9]'.repeat(7),
    '['.repeat(10_000),
    'a,'.repeat(10_000) + 'a',
    'a'.repeat(100_000),
    '@c',
    '@e',
    '^z',
    '\u0000',
    'web\u0007[1]',
    '😀',
    'web[1-2]😀',
    'a\n\n\nb[',
    `${'x'.repeat(500)}[`,
    'web[0-99999]!web[0-99999]',
    'web[1,2,3,4,5,6,7,8,9]&web[5-6]',
  ];
  for (const expr of corpus) check(expr, stats);
  report('corpus', stats);
});

test('fold takes any strings without throwing, and lists names it cannot fold as they are', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 20 }), (names) => {
      const folded = fold(names);
      for (const name of names) {
        if (!/^[A-Za-z0-9._-]*$/.test(name)) assert.ok(folded.includes(name), `${name} in ${folded}`);
      }
    }),
    { numRuns: 1_000 },
  );
});
