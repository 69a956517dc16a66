// What the system ssh says when it fails (OpenSSH 9.2's words, as seen against the harness's
// faults), read as the kinds the ssh2 transport gives the same failures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionLost, masterPid, sshFailure } from '../../../src/ssh/openssh/ssh-errors.js';

const ctx = { label: 'web1', hostname: '10.0.0.1', port: 22, user: 'root', connectTimeoutMs: 2000 };

test("ssh's words become kinds, stages and hints", () => {
  for (const [stderr, kind, stage] of [
    ['ssh: connect to host 10.0.0.1 port 22: Connection refused\r\n', 'refused', 'tcp'],
    ['ssh: Could not resolve hostname nowhere: Name or service not known\r\n', 'dns', 'resolve'],
    [
      'Connection timed out during banner exchange\r\nConnection to 10.0.0.1 port 22 timed out\r\n',
      'connect-timeout',
      'banner',
    ],
    [
      '@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\nHost key verification failed.\r\n',
      'changed-host-key',
      'kex',
    ],
    [
      'No ED25519 host key is known for [10.0.0.1]:22 and you have requested strict checking.\r\nHost key verification failed.\r\n',
      'unknown-host-key',
      'kex',
    ],
    ['root@10.0.0.1: Permission denied (publickey).\r\n', 'auth', 'auth'],
    ['/tmp/cfg: line 3: Bad configuration option: nosuch\r\n', 'config', 'resolve'],
    ['kex_exchange_identification: Connection closed by remote host\r\n', 'protocol', 'banner'],
    ['something new\r\n', 'protocol', 'kex'],
  ] as const) {
    const e = sshFailure(stderr, ctx);
    assert.equal(e.kind, kind, stderr);
    assert.equal(e.stage, stage, stderr);
    assert.match(e.message, /^web1: /);
  }
  assert.equal(
    sshFailure('kex_exchange_identification: read: Connection reset by peer', ctx).retryable,
    true,
  );
  assert.match(
    sshFailure('root@10.0.0.1: Permission denied (publickey).', ctx).message,
    /refused every identity/,
  );
  assert.match(sshFailure('', ctx).message, /said nothing/);
});

test("ssh's words are shown printable: a hostile server's text cannot reach the terminal raw", () => {
  const e = sshFailure('Connection closed by \x1b[2J10.0.0.1\r\n', ctx);
  assert.ok(!e.message.includes('\x1b'), e.message);
});

test('a lost connection and the master pid', () => {
  assert.equal(connectionLost('output\nmux_client_read_packet: read header failed: Broken pipe\r\n'), true);
  assert.equal(connectionLost('Connection to 10.0.0.1 closed by remote host.\r\n'), true);
  assert.equal(connectionLost('the command said: Broken pipe\nand then this\n'), false);
  assert.equal(masterPid('Master running (pid=4242)\r\n'), 4242);
  assert.equal(masterPid('Control socket connect(/x): No such file or directory'), undefined);
});
