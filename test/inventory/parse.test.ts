// Host set syntax: every range form and operator, and the errors, with their caret column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expand, HostSet, HostSetError } from '../../src/inventory/index.js';
import { UsageError } from '../../src/process/errors.js';

const groups = (name: string) =>
  (
    ({ web: 'web[1-3]', db: ['db1', 'db2'], failed: ['web2', 'db2'], empty: '' }) as Record<
      string,
      string | string[]
    >
  )[name];

const cases: [string, string[]][] = [
  ['web1', ['web1']],
  ['web[1-3]', ['web1', 'web2', 'web3']],
  ['web[01-03]', ['web01', 'web02', 'web03']],
  ['web[08-11]', ['web08', 'web09', 'web10', 'web11']],
  ['web[098-101]', ['web098', 'web099', 'web100', 'web101']],
  ['web[01-5]', ['web01', 'web02', 'web03', 'web04', 'web05']],
  ['web[1-10/3]', ['web1', 'web4', 'web7', 'web10']],
  ['web[1-9/20]', ['web1']],
  ['web[1,3,5-7]', ['web1', 'web3', 'web5', 'web6', 'web7']],
  ['web[3,1,3]', ['web3', 'web1']],
  ['web[1,01]', ['web1', 'web01']],
  ['web[0]', ['web0']],
  ['web[00-02]', ['web00', 'web01', 'web02']],
  ['r[1-2]n[1-3]', ['r1n1', 'r1n2', 'r1n3', 'r2n1', 'r2n2', 'r2n3']],
  ['web[1-3].prod', ['web1.prod', 'web2.prod', 'web3.prod']],
  ['[1-2].example.com', ['1.example.com', '2.example.com']],
  ['10.0.0.[1-3]', ['10.0.0.1', '10.0.0.2', '10.0.0.3']],
  ['a[1-2][3-4]', ['a13', 'a14', 'a23', 'a24']],
  ['my_host-1.example.com', ['my_host-1.example.com']],
  ['a,b,c', ['a', 'b', 'c']],
  ['a,b,a', ['a', 'b']],
  ['web[1-10]!web[3-4]', ['web1', 'web2', 'web5', 'web6', 'web7', 'web8', 'web9', 'web10']],
  ['web[1-5]&web[4-9]', ['web4', 'web5']],
  ['a,b!b', ['a']],
  ['a,b!c', ['a', 'b']],
  // Left to right, like ClusterShell: (a ∪ b) \ b ∪ b.
  ['a,b!b,b', ['a', 'b']],
  ['web[1-5]!web2&web[1-3]', ['web1', 'web3']],
  ['web[1-3]&web[2-3],web9', ['web2', 'web3', 'web9']],
  ['a b\tc\nd', ['a', 'b', 'c', 'd']],
  ['  a ,  b ! a  ', ['b']],
  ['a !a', []],
  ['', []],
  ['   \n ', []],
  ['@web', ['web1', 'web2', 'web3']],
  ['@web,@db', ['web1', 'web2', 'web3', 'db1', 'db2']],
  ['@web!@failed', ['web1', 'web3']],
  ['@web&@failed', ['web2']],
  ['@empty,x', ['x']],
  // Hosts as people paste them: user@host, host:port, IPv6, with ranges and groups beside them.
  ['deploy@web1', ['deploy@web1']],
  ['web1:2222', ['web1:2222']],
  ['deploy@web[1-3]:2222', ['deploy@web1:2222', 'deploy@web2:2222', 'deploy@web3:2222']],
  ['deploy@10.0.0.[1-2]:22', ['deploy@10.0.0.1:22', 'deploy@10.0.0.2:22']],
  ['john@corp@web1', ['john@corp@web1']],
  ['u[1-2]@db1', ['u1@db1', 'u2@db1']],
  ['web1:[22,2222]', ['web1:22', 'web1:2222']],
  ['[2001:db8::1]:22', ['[2001:db8::1]:22']],
  ['deploy@[2001:db8::1]:22', ['deploy@[2001:db8::1]:22']],
  ['[::1]', ['[::1]']],
  ['2001:db8::1', ['2001:db8::1']],
  ['::1,fe80::[1-2]', ['::1', 'fe80::1', 'fe80::2']],
  ['2001:DB8:0:0:8:800:200C:417A', ['2001:DB8:0:0:8:800:200C:417A']],
  ['::ffff:10.0.0.1', ['::ffff:10.0.0.1']],
  ['@web,root@db1', ['web1', 'web2', 'web3', 'root@db1']],
  // A bare host in "!" and "&" names it whatever user or port it was written with; a written one only itself.
  ['root@web[1-3]!web2', ['root@web1', 'root@web3']],
  ['web[1-3]:22,web4!web[2-4]', ['web1:22']],
  ['root@web[1-3],web2!root@web2', ['root@web1', 'root@web3', 'web2']],
  ['root@web[1-3]&web[2-5]', ['root@web2', 'root@web3']],
  ['[::1]:22,::2!::1', ['::2']],
];

test('expands every range form and evaluates operators left to right', () => {
  for (const [expr, hosts] of cases) {
    assert.deepEqual(expand(expr, { groups }), hosts, expr);
  }
});

test('a group given as a list is taken as host names, not parsed', () => {
  const set = HostSet.parse('@odd', { groups: () => ['we!rd[1]', 'user@host'] });
  assert.deepEqual(set.hosts, ['we!rd[1]', 'user@host']);
});

test('a group given as an expression may use other groups and stops on cycles', () => {
  const defs: Record<string, string> = {
    prod: '@web,@db',
    web: 'web[1-2]',
    db: 'db1',
    a: 'x,@b',
    b: '@c',
    c: '@a',
  };
  assert.deepEqual(expand('@prod', { groups: (n) => defs[n] }), ['web1', 'web2', 'db1']);
  assert.throws(
    () => HostSet.parse('@a', { groups: (n) => defs[n] }),
    (e: unknown) => e instanceof HostSetError && /group cycle: @a → @b → @c → @a/.test(e.message),
  );
});

test('a diamond of groups is resolved once per group, not once per path', () => {
  // 30 levels of g_i = @g_{i+1},@g_{i+1}: 2^30 paths, fine with memoisation.
  let calls = 0;
  const resolver = (n: string) => {
    calls++;
    const i = Number(n.slice(1));
    return i === 30 ? 'leaf[1-3]' : `@g${i + 1},@g${i + 1}`;
  };
  assert.deepEqual(expand('@g0', { groups: resolver }), ['leaf1', 'leaf2', 'leaf3']);
  assert.equal(calls, 31);
});

test('a group nested too deep is an error, not a stack overflow', () => {
  const resolver = (n: string) => `@g${Number(n.slice(1)) + 1}`;
  assert.throws(() => HostSet.parse('@g0', { groups: resolver }), /nested more than 64 deep/);
});

test('a UsageError thrown by the resolver is shown at the group', () => {
  assert.throws(
    () =>
      HostSet.parse('web1,@nope', {
        groups: () => {
          throw new UsageError('no previous run');
        },
      }),
    (e: unknown) => e instanceof HostSetError && e.column === 6 && e.reason === 'no previous run',
  );
});

// [expression, column of the caret (1-based), a piece of the reason]
const errors: [string, number, string][] = [
  ['web[1-', 7, 'expected a number after "-", found the end (the "[" at column 4 is not closed)'],
  ['web[a-3]', 5, 'expected a number, found "a"'],
  ['web[3-1]', 5, 'range 3-1 goes down: write it as 1-3'],
  ['web[]', 5, 'empty "[]"'],
  ['[1-2', 5, 'expected "," or "]", found the end (the "[" at column 1 is not closed)'],
  ['web[1', 6, 'expected "-", "," or "]", found the end'],
  ['web[1-2', 8, 'the "[" at column 4 is not closed'],
  ['web[1-2,', 9, 'expected a number, found the end'],
  ['web[1,,2]', 7, 'expected a number, found ","'],
  ['web[1-2x]', 8, 'expected "," or "]", found "x"'],
  ['web[[1]]', 5, 'expected a number, found "["'],
  ['web[1-5/0]', 9, 'a step must be 1 or more'],
  ['web[1-5/]', 9, 'expected a step after "/"'],
  ['web[5/2]', 6, 'a step needs a range'],
  ['web[1-05]', 7, 'mixes zero paddings'],
  ['web[01-010]', 8, 'like 001-010'],
  ['web[1234567890123456]', 5, 'number too long'],
  [',,', 1, 'expected a host name, @group or ^file, found ","'],
  ['a,,b', 3, 'expected a host name, @group or ^file after ",", found ","'],
  ['a,', 3, 'after ",", found the end'],
  ['!a', 1, 'found "!"'],
  ['a!', 3, 'after "!", found the end'],
  ['a&&b', 3, 'after "&", found "&"'],
  ['a]', 2, 'unexpected "]"'],
  [']', 1, 'unexpected "]"'],
  ['a@', 3, 'expected a host after "@" (user@host)'],
  ['a@,b', 3, 'expected a host after "@"'],
  ['a@@web', 3, 'a @group takes no user (user@@group)'],
  ['a:b@c', 2, '":" cannot appear in a user name'],
  ['web1:', 6, 'expected a port number after ":", found the end'],
  ['web1:ssh', 6, 'expected a port number after ":", found "ssh"'],
  ['web1:0', 6, 'port 0 is not a number from 1 to 65535'],
  ['web1:65536', 6, 'port 65536 is not a number'],
  [':22', 1, 'expected a host before ":"'],
  ['u@:22', 3, 'expected a host before ":"'],
  ['web1:22:33', 1, '"web1:22:33" is neither host:port nor an IPv6 address'],
  ['[::1', 5, 'expected "]" to close the IPv6 address [::1], found the end'],
  ['[::1]x', 6, 'expected ":" and a port after the address in brackets, found "x"'],
  ['[::1]:', 7, 'expected a port number after ":"'],
  ['web[::1]', 4, 'an IPv6 address in brackets is the whole host'],
  ['a^b', 2, '"^" may only start a file name'],
  ['web/1', 4, '"/" cannot appear in a host name'],
  ['héllo', 2, '"é" cannot appear in a host name'],
  ['@', 2, 'expected a group name after "@"'],
  ['@web[1-2]', 5, 'after the group name @web, found "["'],
  ['^', 2, 'expected a file name after "^"'],
  ['@nope', 1, 'unknown group @nope'],
  ['web[1-2000000]', 1, 'web[1-2000000] expands to more than 1,000,000 hosts'],
  ['a[1-1000]b[1-1001]', 1, 'expands to more than 1,000,000 hosts'],
];

test('malformed expressions are UsageErrors with a caret under the column and what was expected', () => {
  for (const [expr, column, reason] of errors) {
    let caught: unknown;
    try {
      HostSet.parse(expr, { groups });
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof HostSetError, `${expr}: expected a HostSetError, got ${String(caught)}`);
    assert.ok(caught instanceof UsageError);
    assert.equal(caught.kind, 'usage');
    assert.equal(caught.column, column, `${expr}: ${caught.message}`);
    assert.ok(caught.reason.includes(reason), `${expr}: ${caught.reason}`);
    const lines = caught.message.split('\n');
    assert.equal(lines[1], `  ${expr}`, expr);
    assert.equal(lines[2], `  ${' '.repeat(column - 1)}^`, expr);
  }
});

test('the message reads as a sentence with the expression and the caret', () => {
  assert.throws(() => HostSet.parse('web[1-'), {
    message: [
      'host set: expected a number after "-", found the end (the "[" at column 4 is not closed) (column 7)',
      '  web[1-',
      '        ^',
    ].join('\n'),
  });
});

test('errors inside a group name the group and show its own expression', () => {
  assert.throws(
    () => HostSet.parse('a,@prod', { groups: (n) => ({ prod: '@web', web: 'web[1-' })[n] }),
    (e: unknown) =>
      e instanceof HostSetError &&
      e.message.startsWith('host set: in @prod → @web: expected a number after "-"') &&
      e.message.endsWith('\n  web[1-\n        ^'),
  );
});

test('long expressions are cut around the column and tabs keep the caret aligned', () => {
  const long = 'x'.repeat(200) + ',web[' + 'y'.repeat(200);
  const e = (() => {
    try {
      HostSet.parse(long);
    } catch (err) {
      return err as HostSetError;
    }
    throw new Error('no error');
  })();
  const [, shown, caret] = e.message.split('\n');
  assert.ok(shown!.length < 90, shown);
  assert.equal(shown![caret!.indexOf('^')], 'y');
  assert.throws(() => HostSet.parse('a\t]'), { message: /\n {2}a\t]\n {2} \t\^$/ });
});

test('a lower maxHosts caps patterns and the growing set; bad options are usage errors', () => {
  assert.equal(HostSet.parse('a[1-10]', { maxHosts: 10 }).size, 10);
  assert.throws(() => HostSet.parse('a[1-11]', { maxHosts: 10 }), /more than 10 hosts/);
  assert.throws(() => HostSet.parse('a[1-6],b[1-6]', { maxHosts: 10 }), {
    message: /more than 10 hosts by this term \(the limit, maxHosts\) \(column 8\)/,
  });
  assert.throws(() => HostSet.parse('a', { maxHosts: 0 }), /option maxHosts/);
  assert.throws(() => HostSet.parse(undefined as unknown as string), /expected an expression string/);
});
