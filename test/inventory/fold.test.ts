// Folding host names back into ranges, and natural order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fold, foldPatterns } from '../../src/inventory/fold.js';
import { HostSet } from '../../src/inventory/hostset.js';
import { naturalCompare } from '../../src/inventory/natural.js';

const cases: [string[], string][] = [
  [[], ''],
  [['web1'], 'web1'],
  [['web1', 'web2', 'web3', 'web7'], 'web[1-3,7]'],
  [['web7', 'web3', 'web1', 'web2', 'web2'], 'web[1-3,7]'],
  [['web01', 'web02'], 'web[01-02]'],
  [['web08', 'web09', 'web10', 'web11'], 'web[08-11]'],
  [['web098', 'web099', 'web100'], 'web[098-100]'],
  [['web1', 'web01'], 'web[1,01]'],
  [['web1', 'web2', 'web01', 'web02'], 'web[1-2,01-02]'],
  [['web9', 'web10', 'web09'], 'web[9,09-10]'],
  [['web0', 'web00', 'web000'], 'web[0,00,000]'],
  [['r1n1', 'r1n2', 'r2n1', 'r2n2'], 'r[1-2]n[1-2]'],
  [['r1n1', 'r1n2', 'r2n1'], 'r1n[1-2],r2n1'],
  [['r1n1', 'r2n1', 'r3n1'], 'r[1-3]n1'],
  [['r1n1', 'r1n2', 'r2n1', 'r2n2', 'r3n5'], 'r[1-2]n[1-2],r3n5'],
  [['a1b1c1', 'a1b1c2', 'a1b2c1', 'a1b2c2', 'a2b1c1', 'a2b1c2', 'a2b2c1', 'a2b2c2'], 'a[1-2]b[1-2]c[1-2]'],
  [['web1.prod', 'web2.prod', 'web3.prod', 'db1.prod'], 'db1.prod,web[1-3].prod'],
  [['web1.prod', 'web1.dev', 'web2.dev'], 'web[1-2].dev,web1.prod'],
  [['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.1'], '10.0.0.[1-3],10.0.1.1'],
  [['db', 'cache', 'web1'], 'cache,db,web1'],
  [['web10', 'web9', 'web100'], 'web[9-10,100]'],
  [['x99999999999999999999', 'x99999999999999999998'], 'x99999999999999999998,x99999999999999999999'],
  [['weird!name', 'user@host', 'web1'], 'user@host,web1,weird!name'],
];

test('folds to ranges, keeping padding, in natural order', () => {
  for (const [hosts, folded] of cases) {
    assert.equal(fold(hosts), folded, hosts.join(' '));
  }
});

test('foldPatterns gives the same patterns as a list', () => {
  assert.deepEqual(foldPatterns(['web1', 'web2', 'db1']), ['db1', 'web[1-2]']);
});

test('every fold case parses back to the same hosts', () => {
  for (const [hosts] of cases) {
    if (hosts.some((h) => !/^[A-Za-z0-9._-]*$/.test(h))) continue;
    assert.ok(HostSet.parse(fold(hosts)).equals(hosts), hosts.join(' '));
  }
});

test('a fleet of 100,000 hosts folds back to one pattern in bounded time', () => {
  const started = performance.now();
  const set = HostSet.parse('r[1-100]n[001-1000]');
  const folded = set.toString();
  const ms = performance.now() - started;
  assert.equal(set.size, 100_000);
  assert.equal(folded, 'r[1-100]n[001-1000]');
  // About 0.3 s on a busy 2-core machine; the bound only catches a quadratic slip.
  assert.ok(ms < 10_000, `took ${ms} ms`);
});

test('natural order: numbers by value, padding after, then plain text', () => {
  const sorted = ['web10', 'web2', 'web01', 'web1', 'Web1', 'web', 'web1a', 'web1.b', 'a', 'web02'].sort(
    naturalCompare,
  );
  assert.deepEqual(sorted, [
    'Web1',
    'a',
    'web',
    'web1',
    'web01',
    'web1.b',
    'web1a',
    'web2',
    'web02',
    'web10',
  ]);
  assert.equal(naturalCompare('x', 'x'), 0);
  assert.ok(naturalCompare('web9', 'web10') < 0);
  assert.ok(naturalCompare('web100000000000000000001', 'web99999999999999999999') > 0);
});
