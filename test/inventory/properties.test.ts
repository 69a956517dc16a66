// Properties: folding round-trips, set algebra agrees with JavaScript's Set, ranges agree with a
// naive reference expander; hosts written as user@host:port or IPv6 parse as themselves, read as
// the SSH layer reads them, fold back, and meet "!" and "&" by their host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fold, HostSet } from '../../src/inventory/index.js';
import { splitAddress } from '../../src/process/address.js';
import { parseTargetString } from '../../src/ssh/target-options.js';

const RUNS = 400;

/** A number as it may appear in a host name: padded or not, small or large, sometimes too long to be a number. */
const numberText = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.nat(40), fc.nat(3)).map(([n, pad]) => String(n).padStart(pad, '0')) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.nat(2_000_000), fc.nat(8)).map(([n, pad]) => String(n).padStart(pad, '0')),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('0', '00', '000', '09', '10', '99', '100', '1000000000000000000000'),
  },
);
const text = fc.constantFrom('', '', 'a', 'n', 'web', '.', '-', '_x', 'B', '.prod');

/** Host names with a prefix and up to three numbers (several dimensions), from a small alphabet so that shapes repeat. */
const host = fc
  .tuple(
    fc.constantFrom('web', 'db', 'r', '', 'rack-', 'a.b'),
    fc.array(fc.tuple(numberText, text), { maxLength: 3 }),
  )
  .map(([prefix, parts]) => prefix + parts.map(([n, t]) => n + t).join(''))
  .filter((h) => h.length > 0);

/** Hosts that come in blocks, as real fleets do: r[1-3]n[01-04] and the like, with some holes. */
const fleet = fc
  .tuple(
    fc.constantFrom('r', 'rack', 'web', 'node'),
    fc.integer({ min: 0, max: 5 }),
    fc.integer({ min: 1, max: 4 }),
    fc.integer({ min: 1, max: 6 }),
    fc.integer({ min: 0, max: 3 }),
    fc.array(fc.nat(30), { maxLength: 5 }),
  )
  .map(([p, start, rows, cols, pad, holes]) => {
    const out: string[] = [];
    for (let r = start; r < start + rows; r++) {
      for (let c = 1; c <= cols; c++) out.push(`${p}${r}n${String(c).padStart(pad, '0')}`);
    }
    return out.filter((_, i) => !holes.includes(i));
  });

const hostList = fc.oneof(
  fc.array(host, { maxLength: 40 }),
  fleet,
  fc.tuple(fleet, fc.array(host, { maxLength: 10 })).map(([a, b]) => [...a, ...b]),
);

test('parse(fold(hosts)) is exactly the set of hosts', () => {
  fc.assert(
    fc.property(hostList, (hosts) => {
      const folded = fold(hosts);
      const back = HostSet.parse(folded);
      assert.equal(back.size, new Set(hosts).size, folded);
      assert.ok(back.equals(hosts), `${hosts.join(' ')} → ${folded}`);
    }),
    { numRuns: RUNS },
  );
});

test('fold does not depend on input order or repeats', () => {
  fc.assert(
    fc.property(
      hostList.chain((hosts) =>
        fc.tuple(fc.constant(hosts), fc.shuffledSubarray(hosts, { minLength: hosts.length })),
      ),
      ([hosts, shuffled]) => {
        assert.equal(fold([...shuffled, ...shuffled.slice(0, 3)]), fold(hosts));
      },
    ),
    { numRuns: RUNS },
  );
});

test('full blocks fold to one multi-dimension pattern', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 2, max: 12 }),
      fc.nat(3),
      (rows, cols, pad) => {
        const hosts: string[] = [];
        for (let r = 1; r <= rows; r++)
          for (let c = 1; c <= cols; c++) hosts.push(`r${r}n${String(c).padStart(pad, '0')}`);
        const n = (c: number) => String(c).padStart(pad, '0');
        const expected = `r${rows === 1 ? '1' : `[1-${rows}]`}n[${n(1)}-${n(cols)}]`;
        assert.equal(fold(hosts), expected);
      },
    ),
    { numRuns: 100 },
  );
});

test('union, difference and intersection agree with JavaScript Set semantics and order', () => {
  fc.assert(
    fc.property(hostList, hostList, (a, b) => {
      const A = HostSet.from(a);
      const B = HostSet.from(b);
      const sa = new Set(a);
      const sb = new Set(b);
      assert.deepEqual(A.union(B).hosts, [...new Set([...a, ...b])]);
      assert.deepEqual(
        A.difference(B).hosts,
        [...sa].filter((h) => !sb.has(h)),
      );
      assert.deepEqual(
        A.intersection(B).hosts,
        [...sa].filter((h) => sb.has(h)),
      );
      // The same through the expression operators, on the folded forms. A folded form may hold
      // several patterns (a,b) and operators bind left to right, so the right side is a group.
      const groups = (name: string) => (name === 'a' ? fold(a) : name === 'b' ? fold(b) : undefined);
      assert.ok(HostSet.parse('@a,@b', { groups }).equals(A.union(B)));
      assert.ok(HostSet.parse('@a!@b', { groups }).equals(A.difference(B)));
      assert.ok(HostSet.parse('@a&@b', { groups }).equals(A.intersection(B)));
      assert.ok(HostSet.parse(`${fold(a)} ${fold(b)}`).equals(A.union(B)));
    }),
    { numRuns: RUNS },
  );
});

test('operators are evaluated left to right', () => {
  const small = fc.array(fc.constantFrom('a1', 'a2', 'a3', 'b1', 'b2'), { minLength: 1, maxLength: 4 });
  const op = fc.constantFrom(',', '!', '&');
  fc.assert(
    fc.property(small, fc.array(fc.tuple(op, small), { maxLength: 4 }), (first, rest) => {
      let expected = new Set(first);
      let expr = fold(first);
      const defs: string[] = [];
      for (const [o, hosts] of rest) {
        const s = new Set(hosts);
        if (o === ',') expected = new Set([...expected, ...hosts]);
        else if (o === '!') expected = new Set([...expected].filter((h) => !s.has(h)));
        else expected = new Set([...expected].filter((h) => s.has(h)));
        // One term per operand: a group, since a folded form may hold several patterns.
        expr += `${o}@g${defs.length}`;
        defs.push(fold(hosts));
      }
      assert.ok(HostSet.parse(expr, { groups: (n) => defs[Number(n.slice(1))] }).equals(expected), expr);
    }),
    { numRuns: RUNS },
  );
});

test('bracket ranges agree with a naive expander (padding, steps, lists)', () => {
  const item = fc
    .tuple(fc.nat(120), fc.nat(30), fc.integer({ min: 1, max: 7 }), fc.nat(4), fc.boolean())
    .map(([start, length, step, pad, single]) => ({ start, end: start + length, step, pad, single }));
  fc.assert(
    fc.property(
      fc.array(item, { minLength: 1, maxLength: 4 }),
      fc.constantFrom('web', '', 'n-'),
      (items, prefix) => {
        const parts: string[] = [];
        const expected: string[] = [];
        for (const { start, end, step, pad, single } of items) {
          const startText = String(start).padStart(pad, '0');
          const width = startText.length > 1 && startText.startsWith('0') ? startText.length : 0;
          const show = (v: number) => String(v).padStart(width, '0');
          if (single) {
            parts.push(startText);
            expected.push(prefix + startText + '.x');
          } else {
            parts.push(`${startText}-${show(end)}${step > 1 ? `/${step}` : ''}`);
            for (let v = start; v <= end; v += step) expected.push(prefix + show(v) + '.x');
          }
        }
        const expr = `${prefix}[${parts.join(',')}].x`;
        assert.deepEqual(HostSet.parse(expr).hosts, [...new Set(expected)], expr);
      },
    ),
    { numRuns: RUNS },
  );
});

/** Hosts as people paste them: a user, a port, IPv6 with and without brackets, over the names above. */
const ipv6 = fc
  .tuple(fc.constantFrom('2001:db8', 'fe80', 'fd00:0:1', ''), fc.array(fc.nat(0xffff), { maxLength: 3 }))
  .map(([head, tail]) => `${head}::${tail.map((n) => n.toString(16)).join(':')}`);
const written = fc
  .tuple(
    fc.constantFrom(undefined, 'root', 'deploy', 'u1', 'john@corp'),
    fc.oneof({ weight: 3, arbitrary: host.filter((h) => !/^[-.]/.test(h)) }, { weight: 1, arbitrary: ipv6 }),
    fc.constantFrom(undefined, 22, 2222, 65535, 1),
  )
  .map(([user, name, port]) => ({
    user,
    host: name,
    port,
    text:
      (user ? `${user}@` : '') +
      (port === undefined ? name : name.includes(':') ? `[${name}]:${port}` : `${name}:${port}`),
  }));

test('a written host parses as itself, and the SSH layer reads the same user, host and port from it', () => {
  fc.assert(
    fc.property(written, ({ user, host: name, port, text }) => {
      assert.deepEqual(HostSet.parse(text).hosts, [text]);
      const parsed = parseTargetString(text);
      assert.deepEqual(parsed, { host: name, ...(user ? { user } : {}), ...(port ? { port } : {}) }, text);
      assert.equal(splitAddress(text).host, name);
    }),
    { numRuns: RUNS },
  );
});

test('written hosts fold and parse back to exactly themselves', () => {
  fc.assert(
    fc.property(fc.array(written, { maxLength: 30 }), (list) => {
      const texts = list.map((w) => w.text);
      const folded = fold(texts);
      assert.ok(HostSet.parse(folded).equals(texts), `${texts.join(' ')} → ${folded}`);
    }),
    { numRuns: RUNS },
  );
});

test('a bare host in "!", "&" and -x names it with any user or port; a written one only itself', () => {
  fc.assert(
    fc.property(fc.array(written, { maxLength: 20 }), fc.array(written, { maxLength: 8 }), (left, right) => {
      const A = HostSet.from(left.map((w) => w.text));
      const B = HostSet.from(right.map((w) => w.text));
      const bare = new Set(right.filter((w) => !w.user && !w.port).map((w) => w.host));
      const named = (w: (typeof left)[number]) => B.has(w.text) || bare.has(w.host);
      const entries = [...new Map(left.map((w) => [w.text, w])).values()];
      assert.deepEqual(
        A.difference(B).hosts,
        entries.filter((w) => !named(w)).map((w) => w.text),
      );
      assert.deepEqual(
        A.intersection(B).hosts,
        entries.filter(named).map((w) => w.text),
      );
      const groups = (g: string) => (g === 'a' ? A : g === 'b' ? B : undefined);
      assert.ok(HostSet.parse('@a!@b', { groups }).equals(A.difference(B)));
      assert.ok(HostSet.parse('@a&@b', { groups }).equals(A.intersection(B)));
    }),
    { numRuns: RUNS },
  );
});
