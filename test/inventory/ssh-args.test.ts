// Ansible's ssh arguments (ansible_ssh_common_args) as fleetsh settings: the jump host in each way
// inventories write it, host key checking, the connect timeout; and the rest returned as ignored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSshArgs, splitWords } from '../../src/inventory/ssh-args.js';

test('words split as a POSIX shell splits them, nothing expanded', () => {
  assert.deepEqual(splitWords(` -o 'a b' "c \\"d\\" $HOME" e\\ f  g'h'"i" `), [
    '-o',
    'a b',
    'c "d" $HOME',
    'e f',
    'ghi',
  ]);
  assert.deepEqual(splitWords(''), []);
  assert.deepEqual(splitWords("''"), ['']);
  assert.throws(() => splitWords('"open'), /a quote \(\"\) is not closed/);
});

test('the jump host: -J, -Jhost, -o ProxyJump=, -o "ProxyJump host", -oProxyJump=', () => {
  for (const args of [
    '-J deploy@bastion:2200',
    '-Jdeploy@bastion:2200',
    '-o ProxyJump=deploy@bastion:2200',
    '-o "ProxyJump deploy@bastion:2200"',
    '-oProxyJump=deploy@bastion:2200',
    '-o proxyjump=deploy@bastion:2200',
  ]) {
    assert.deepEqual(parseSshArgs(args), { jump: 'deploy@bastion:2200', ignored: [] }, args);
  }
  assert.deepEqual(parseSshArgs('-J a,b').jump, 'a,b');
});

test('-o ProxyCommand="ssh -W %h:%p bastion" (older inventories) is a jump host; other proxy commands are ignored', () => {
  assert.deepEqual(parseSshArgs('-o ProxyCommand="ssh -W %h:%p -q ops@bastion"'), {
    jump: 'ops@bastion',
    ignored: [],
  });
  assert.equal(
    parseSshArgs(`-o 'ProxyCommand=/usr/bin/ssh -q -l ops -p 2200 -W %h:%p bastion'`).jump,
    'ops@bastion:2200',
  );
  for (const command of ['nc -X 5 -x proxy:1080 %h %p', 'ssh -W %h:%p -i key bastion', 'ssh bastion']) {
    const args = `-o "ProxyCommand=${command}"`;
    assert.deepEqual(parseSshArgs(args), { ignored: [`-o ProxyCommand=${command}`] }, command);
  }
});

test('host key checking and the connect timeout; UserKnownHostsFile=/dev/null goes without saying', () => {
  assert.deepEqual(parseSshArgs('-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'), {
    hostKeyPolicy: 'off',
    ignored: [],
  });
  assert.equal(parseSshArgs('-o StrictHostKeyChecking=accept-new').hostKeyPolicy, 'accept-new');
  assert.equal(parseSshArgs('-o StrictHostKeyChecking=yes').hostKeyPolicy, 'strict');
  assert.equal(parseSshArgs('-o ConnectTimeout=7').connectTimeout, 7000);
});

test('arguments fleetsh has no setting for come back as written', () => {
  assert.deepEqual(
    parseSshArgs(
      '-o ForwardAgent=yes -C -o ServerAliveInterval=30 -o StrictHostKeyChecking=maybe -o UserKnownHostsFile=/tmp/k',
    ),
    {
      ignored: [
        '-o ForwardAgent=yes',
        '-C',
        '-o ServerAliveInterval=30',
        '-o StrictHostKeyChecking=maybe',
        '-o UserKnownHostsFile=/tmp/k',
      ],
    },
  );
});
