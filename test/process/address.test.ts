// How a host written by a person splits into user, host and port, and the name reports give it:
// the one reading the host-set grammar, the fleet and the SSH layer share.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressName, hostWithPort, isBareHost, splitAddress } from '../../src/process/address.js';

const cases: [string, { user?: string; host: string; port?: string; malformed?: string }, string][] = [
  ['web1', { host: 'web1' }, 'web1'],
  ['deploy@web1', { user: 'deploy', host: 'web1' }, 'web1'],
  ['web1:2222', { host: 'web1', port: '2222' }, 'web1:2222'],
  ['deploy@web1:2222', { user: 'deploy', host: 'web1', port: '2222' }, 'web1:2222'],
  ['john@corp@web1', { user: 'john@corp', host: 'web1' }, 'web1'],
  ['10.0.0.1:22', { host: '10.0.0.1', port: '22' }, '10.0.0.1:22'],
  ['[2001:db8::1]:22', { host: '2001:db8::1', port: '22' }, '[2001:db8::1]:22'],
  ['deploy@[2001:db8::1]:22', { user: 'deploy', host: '2001:db8::1', port: '22' }, '[2001:db8::1]:22'],
  ['[::1]', { host: '::1' }, '::1'],
  ['2001:db8::1', { host: '2001:db8::1' }, '2001:db8::1'],
  ['::1', { host: '::1' }, '::1'],
  ['ssh://deploy@web1:2222/', { user: 'deploy', host: 'web1', port: '2222' }, 'web1:2222'],
  ['  web1  ', { host: 'web1' }, 'web1'],
  ['[::1', { host: '::1', malformed: 'missing "]"' }, '::1'],
  ['[::1]x', { host: '::1', malformed: 'unexpected "x" after "]"' }, '::1'],
  ['ssh://web1/path', { host: 'web1', malformed: 'an ssh:// target takes no path' }, 'web1'],
];

test('splits user, host and port as written; the name is the host with its port, never the user', () => {
  for (const [text, parts, name] of cases) {
    const { user, host, port, malformed } = splitAddress(text);
    assert.deepEqual(
      Object.fromEntries(Object.entries({ user, host, port, malformed }).filter(([, v]) => v !== undefined)),
      parts,
      text,
    );
    assert.equal(addressName(text), name, text);
  }
});

test('a port given apart is written after the host, IPv6 in brackets', () => {
  assert.equal(addressName('web1', 2222), 'web1:2222');
  assert.equal(addressName('deploy@::1', 22), '[::1]:22');
  assert.equal(hostWithPort('2001:db8::1', undefined), '2001:db8::1');
});

test('a bare host has neither user nor port', () => {
  assert.equal(isBareHost('web1'), true);
  assert.equal(isBareHost('2001:db8::1'), true);
  assert.equal(isBareHost('root@web1'), false);
  assert.equal(isBareHost('web1:22'), false);
  assert.equal(isBareHost('[::1]:22'), false);
});
