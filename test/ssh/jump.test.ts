// Jump hosts and tunnels against real sshd: two hops, one shared connection per bastion, timeouts
// and failures through the jump, and local port forwarding.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ConnectionError } from '../../src/process/errors.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { sshFor, targetOf } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('ssh jump hosts and tunnels', { skip }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  before(async () => {
    fleet = await startFleet({ healthy: 8, faults: ['dead-port', 'black-hole'] });
    ssh = sshFor(fleet);
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
  });
  const name = (i: number) => fleet.healthy[i]!.name;

  test('two hops: the command runs on the last host, reached through both bastions', async () => {
    const s = ssh(targetOf(fleet, fleet.healthy[2]!, { jump: [name(0), name(1)] }));
    // SSH_CONNECTION shows where the connection came from: the second bastion's sshd (loopback).
    const r = await s`echo $SSH_CONNECTION`;
    const [clientAddress, , serverAddress] = r.stdout.trim().split(' ');
    assert.equal(serverAddress, fleet.healthy[2]!.address);
    assert.ok(clientAddress, r.stdout);
    assert.equal(ssh.pool.stats().handshakes, 3);
    const t = await s.resolve();
    assert.deepEqual(
      t.jump.map((j) => j.host),
      [name(0), name(1)],
    );
  });

  test('one shared connection per bastion for every host behind it', async () => {
    const own = sshFor(fleet);
    try {
      const behind = [3, 4, 5, 6, 7].map((i) => own(targetOf(fleet, fleet.healthy[i]!, { jump: name(0) })));
      const results = await Promise.all(behind.flatMap((s) => [s`hostname`, s`true`]));
      assert.equal(results.length, 10);
      assert.equal(own.pool.stats().handshakes, 6, 'one bastion handshake + one per target');
    } finally {
      await own.close();
    }
  });

  test('failures through a jump: refused and connect timeout, naming the target and the bastion', async () => {
    const refused = ssh(targetOf(fleet, fleet.host('h-dead-port'), { jump: name(0) }));
    await assert.rejects(refused`true`, (e: ConnectionError) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.kind, 'refused');
      assert.match(e.message, /^h-dead-port: connection refused: jump host h01 could not connect/);
      return true;
    });
    const t0 = performance.now();
    const hole = ssh(targetOf(fleet, fleet.host('h-black-hole'), { jump: name(0), connectTimeout: '1s' }));
    await assert.rejects(
      hole`true`,
      (e: ConnectionError) => e.kind === 'connect-timeout' && /^h-black-hole: /.test(e.message),
    );
    assert.ok(performance.now() - t0 < 5000);
    const badBastion = ssh(targetOf(fleet, fleet.healthy[3]!, { jump: 'h-dead-port' }));
    await assert.rejects(badBastion`true`, (e: ConnectionError) => {
      assert.equal(e.kind, 'refused');
      assert.match(e.message, new RegExp(`^${name(3)}: connection refused: through jump host h-dead-port: `));
      return true;
    });
  });

  test('a command timeout through a jump kills the remote command', async () => {
    const s = ssh(targetOf(fleet, fleet.healthy[2]!, { jump: [name(0), name(1)] }));
    await assert.rejects(
      s`sleep 304`.timeout('300ms'),
      (e: Error & { kind: string }) => e.kind === 'timeout',
    );
    let left = '';
    for (let i = 0; i < 20; i++) {
      left = (await s`pgrep -f ${'sleep 30[4]'} || true`).stdout.trim();
      if (!left) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(left, '');
  });

  test('a tunnel forwards 127.0.0.1:localPort to a port seen from the host, and closes', async () => {
    // The "service" behind the host: a TCP echo server on loopback.
    const echo = net.createServer((c) => c.pipe(c));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const servicePort = (echo.address() as net.AddressInfo).port;
    const s = ssh(targetOf(fleet, fleet.healthy[1]!));
    const tunnel = await s.tunnel({ remoteHost: '127.0.0.1', remotePort: servicePort });
    try {
      assert.equal(tunnel.localHost, '127.0.0.1');
      assert.ok(tunnel.localPort > 0);
      const reply = await new Promise<string>((resolve, reject) => {
        const c = net.connect(tunnel.localPort, '127.0.0.1', () => c.write('ping through the tunnel'));
        c.on('data', (d) => {
          resolve(d.toString());
          c.end();
        });
        c.on('error', reject);
      });
      assert.equal(reply, 'ping through the tunnel');
    } finally {
      await tunnel.close();
      echo.close();
    }
    await assert.rejects(
      new Promise((resolve, reject) => {
        const c = net.connect(tunnel.localPort, '127.0.0.1', () => resolve(c));
        c.on('error', reject);
      }),
      /ECONNREFUSED/,
    );
  });
});
