// The one place connection failures are classified: kinds, stages and `retryable` come from codes,
// levels, reason numbers and how far the connection got, never from the words of a message.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConnectionStage } from '../../src/process/errors.js';
import {
  classifyError,
  forwardError,
  handshakeFailure,
  isChannelRefused,
  serverClosed,
  timedOut,
  type ClassifyContext,
} from '../../src/ssh/classify.js';

const ctx = (stage: ConnectionStage, hostKeySeen = false): ClassifyContext => ({
  label: 'web1',
  hostname: '10.0.0.1',
  port: 22,
  user: 'deploy',
  connectTimeoutMs: 10_000,
  stage,
  hostKeySeen,
});
const errno = (code: string) => Object.assign(new Error(`some words ${code}`), { code });

describe('classifyError', () => {
  test('a close before the host key is a retryable early drop; after it, it is not', () => {
    for (const stage of ['tcp', 'banner', 'kex'] as const) {
      const e = classifyError(serverClosed(), ctx(stage));
      assert.equal(e.kind, 'protocol');
      assert.equal(e.retryable, true, stage);
      assert.equal(e.stage, stage);
      assert.match(e.message, /closed the connection before the SSH handshake/);
    }
    for (const e of [
      classifyError(serverClosed(), ctx('kex', true)),
      classifyError(errno('ECONNRESET'), ctx('auth')),
    ]) {
      assert.equal(e.retryable, false);
      assert.match(e.message, /during the SSH handshake/);
    }
  });

  test('the decision does not depend on the words: a message of any text gives the same fields', () => {
    const reworded = Object.assign(new Error('la connexion a été perdue'), { code: 'ECONNRESET' });
    assert.equal(classifyError(reworded, ctx('banner')).retryable, true);
    // ssh2's own words for a stream that ended, with nothing else to go by, read from the stream's state.
    const ssh2Words = Object.assign(new Error('Connection lost before handshake'), { level: 'protocol' });
    const ended = classifyError(
      handshakeFailure(ssh2Words, { destroyed: false, readableEnded: true }),
      ctx('kex'),
    );
    assert.equal(ended.retryable, true);
    const open = classifyError(
      handshakeFailure(ssh2Words, { destroyed: false, readableEnded: false }),
      ctx('kex'),
    );
    assert.equal(open.retryable, false);
  });

  test('timeouts by stage: no server answered before the version line, the handshake did not finish after', () => {
    assert.match(
      classifyError(timedOut(), ctx('tcp')).message,
      /no SSH server answered on 10\.0\.0\.1:22 within 10 s/,
    );
    assert.match(classifyError(timedOut(), ctx('banner')).message, /no SSH server answered/);
    for (const stage of ['kex', 'auth'] as const) {
      const e = classifyError(timedOut(), ctx(stage));
      assert.equal(e.kind, 'connect-timeout');
      assert.equal(e.stage, stage);
      assert.match(e.message, /the SSH handshake did not finish/);
    }
  });

  test('codes: dns, refused, unreachable; levels: auth; a live connection lost is closed', () => {
    assert.deepEqual(
      [errno('ENOTFOUND'), errno('ECONNREFUSED'), errno('EHOSTUNREACH')].map((e) => {
        const c = classifyError(e, ctx('tcp'));
        return [c.kind, c.stage];
      }),
      [
        ['dns', 'resolve'],
        ['refused', 'tcp'],
        ['connect-timeout', 'tcp'],
      ],
    );
    const auth = classifyError(
      Object.assign(new Error('x'), { level: 'client-authentication' }),
      ctx('auth'),
    );
    assert.equal(auth.kind, 'auth');
    const lost = classifyError(serverClosed(), ctx('connected'));
    assert.deepEqual([lost.kind, lost.stage, lost.retryable], ['closed', 'connected', false]);
  });
});

describe('channels and forwarding, by reason number', () => {
  test('a channel open failure with any reason number is a refusal to queue again; a lost connection is not', () => {
    assert.equal(isChannelRefused(Object.assign(new Error('open failed'), { reason: 2 })), true);
    assert.equal(isChannelRefused(Object.assign(new Error('whatever'), { reason: 1 })), true);
    assert.equal(isChannelRefused(Object.assign(new Error('Channel open failure'), { reason: '' })), false);
    assert.equal(isChannelRefused(new Error('Channel open failure: open failed')), false);
  });

  test('a jump host that cannot connect is refused; one that may not forward says so', () => {
    const target = { label: 'db1', hostname: '10.0.0.9', port: 22 };
    const refused = forwardError(Object.assign(new Error('x'), { reason: 2 }), target, 'bastion');
    assert.deepEqual([refused.kind, refused.stage], ['refused', 'tcp']);
    const prohibited = forwardError(Object.assign(new Error('x'), { reason: 1 }), target, 'bastion');
    assert.equal(prohibited.kind, 'protocol');
    assert.match(prohibited.message, /AllowTcpForwarding yes/);
  });
});
