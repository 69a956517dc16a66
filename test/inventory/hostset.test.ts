// The HostSet class, and host files (^file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostSet, HostSetError } from '../../src/inventory/index.js';
import { UsageError } from '../../src/process/errors.js';

test('a HostSet keeps first-named order without repeats, and folds for toString', () => {
  const set = HostSet.parse('web3,web1,web2,web1');
  assert.deepEqual(set.hosts, ['web3', 'web1', 'web2']);
  assert.deepEqual([...set], ['web3', 'web1', 'web2']);
  assert.equal(set.size, 3);
  assert.equal(set.has('web1'), true);
  assert.equal(set.has('web4'), false);
  assert.equal(set.toString(), 'web[1-3]');
  assert.equal(`${set}`, 'web[1-3]');
  assert.deepEqual(set.sorted().hosts, ['web1', 'web2', 'web3']);
  assert.equal(JSON.stringify(set), '["web3","web1","web2"]');
});

test('hosts is a copy: changing it does not change the set', () => {
  const set = HostSet.parse('a,b');
  set.hosts.push('c');
  assert.equal(set.size, 2);
});

test('set operations keep the left operand order and take any list of hosts', () => {
  const a = HostSet.parse('web[1-5]');
  const b = HostSet.parse('web[4-8]');
  assert.deepEqual(a.union(b).hosts, ['web1', 'web2', 'web3', 'web4', 'web5', 'web6', 'web7', 'web8']);
  assert.deepEqual(a.difference(b).hosts, ['web1', 'web2', 'web3']);
  assert.deepEqual(a.intersection(b).hosts, ['web4', 'web5']);
  assert.deepEqual(b.intersection(['web5', 'web4']).hosts, ['web4', 'web5']);
  assert.deepEqual(a.union(new Set(['x'])).hosts.at(-1), 'x');
  assert.equal(a.equals(['web5', 'web4', 'web3', 'web2', 'web1']), true);
  assert.equal(a.equals(b), false);
  assert.equal(HostSet.empty().size, 0);
  assert.deepEqual(HostSet.from(['b', 'a', 'b']).hosts, ['b', 'a']);
});

test('a string where hosts are expected is a usage error, not a set of characters', () => {
  const a = HostSet.parse('web1');
  assert.throws(() => a.union('web2' as unknown as string[]), UsageError);
  assert.throws(() => a.difference(undefined as unknown as string[]), UsageError);
  assert.throws(() => HostSet.from([1 as unknown as string]), UsageError);
});

test('^file reads one host or expression a line, with comments, relative to cwd', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetsh-hostset-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'lists'));
  writeFileSync(
    join(dir, 'lists', 'web.txt'),
    '# the web tier\nweb[1-3]\n\n   web7   # the odd one\r\n^more.txt\n@extra\n',
  );
  writeFileSync(join(dir, 'lists', 'more.txt'), 'web9\n');
  const groups = (n: string) => (n === 'extra' ? ['x1'] : undefined);
  assert.deepEqual(HostSet.parse('^lists/web.txt!web2', { cwd: dir, groups }).hosts, [
    'web1',
    'web3',
    'web7',
    'web9',
    'x1',
  ]);
  assert.deepEqual(HostSet.parse(`^${join(dir, 'lists', 'more.txt')}`).hosts, ['web9']);
});

test('^file errors: a missing file, a bad line with its file:line, a file that includes itself', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetsh-hostset-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bad.txt'), 'web1\nweb[2-\n');
  writeFileSync(join(dir, 'loop.txt'), 'a\n^loop.txt\n');
  assert.throws(() => HostSet.parse('a,^nope.txt', { cwd: dir }), {
    message: 'host set: cannot read host file nope.txt: no such file (column 3)\n  a,^nope.txt\n    ^',
  });
  assert.throws(
    () => HostSet.parse('^bad.txt', { cwd: dir }),
    (e: unknown) =>
      e instanceof HostSetError &&
      e.origin[0] === 'bad.txt:2' &&
      e.message.startsWith('host set: in bad.txt:2: expected a number after "-"') &&
      e.column === 7,
  );
  assert.throws(() => HostSet.parse('^loop.txt', { cwd: dir }), /host file loop.txt includes itself/);
  assert.throws(() => HostSet.parse('^.', { cwd: dir }), /cannot read host file .: it is a directory/);
});

test('readFile can sandbox or forbid host files', () => {
  const files: Record<string, string> = { '/virtual/a': 'a[1-2]' };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return text;
  };
  assert.deepEqual(HostSet.parse('^a', { cwd: '/virtual', readFile }).hosts, ['a1', 'a2']);
  const forbid = () => {
    throw new Error('host files are not allowed here');
  };
  assert.throws(
    () => HostSet.parse('^a', { readFile: forbid }),
    /cannot read host file a: host files are not allowed here/,
  );
});

test('new HostSet(...) from JavaScript says to use parse or from, rather than making a set of letters', () => {
  const Ctor = HostSet as unknown as new (expression: string) => HostSet;
  assert.throws(
    () => new Ctor('web[1-3]'),
    (e: unknown) => e instanceof UsageError && /HostSet\.parse\("web\[1-3\]"\)/.test(e.message),
  );
  assert.equal(HostSet.parse('web[1-3]').size, 3);
});

test('parseList reads a pasted list: one expression a line, each on its own, blank lines and comments skipped', () => {
  const text = '# from the ticket\r\n\ndeploy@web[1-2]:2222   # the web tier\nweb9\n  \n@db\n[2001:db8::1]:22\na,b!a\n';
  const groups = (name: string) => (name === 'db' ? ['db1', 'db2'] : undefined);
  assert.deepEqual(HostSet.parseList(text, { groups }).hosts, [
    'deploy@web1:2222',
    'deploy@web2:2222',
    'web9',
    'db1',
    'db2',
    '[2001:db8::1]:22',
    'b', // a line's operators stay within the line
  ]);
  assert.deepEqual(HostSet.parseList('').hosts, []);
  assert.throws(
    () => HostSet.parseList('web1\nweb2:ssh\n', { source: 'stdin' }),
    (e: unknown) =>
      e instanceof HostSetError &&
      e.message.startsWith('host set: in stdin:2: expected a port number after ":", found "ssh"'),
  );
  assert.throws(() => HostSet.parseList('a\nb\nc\n', { maxHosts: 2 }), /list has more than 2 hosts \(maxHosts\)/);
  assert.throws(() => HostSet.parseList(42 as never), /host list: expected text/);
});
