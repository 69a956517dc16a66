// The CLI's transport against real sshd: each host's connection closed as soon as the run has the
// host's result (releaseEachHost), never while another host still uses it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { sshTransport, targetsFor } from '../../src/cli/connect.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('CLI transport', { skip }, () => {
  let tf: TestFleet;
  before(async () => {
    tf = await startFleet({ healthy: 3 });
  });
  after(async () => {
    await tf?.stop();
  });

  const hostsOf = () => tf.healthy.map((h) => h.name);

  test('without releaseEachHost, every connection stays open until close()', async () => {
    const transport = await sshTransport();
    try {
      const f = fleet(targetsFor(hostsOf(), { sshConfig: tf.sshConfigPath }), { connect: transport.connect });
      const report = await f.run`echo ok`;
      assert.equal(report.counts.ok, 3);
      assert.equal(transport.openConnections(), 3);
    } finally {
      await transport.close();
    }
    assert.equal(transport.openConnections(), 0);
  });

  test("releaseEachHost closes each host's connection once its result is in", async () => {
    const transport = await sshTransport();
    try {
      const f = fleet(targetsFor(hostsOf(), { sshConfig: tf.sshConfigPath }), { connect: transport.connect });
      const run = f.run`echo ok`;
      transport.releaseEachHost(run);
      const open: number[] = [];
      // Told after the transport's own listener: the release is on its way (it awaits the resolution).
      run.on('server:success', () => open.push(transport.openConnections()));
      const report = await run;
      assert.equal(report.counts.ok, 3);
      await new Promise((r) => setImmediate(r));
      assert.equal(transport.openConnections(), 0, `open after each host: ${open.join(', ')}`);
    } finally {
      await transport.close();
    }
  });

  test('a connection two hosts share is not closed while the other still runs on it', async () => {
    const transport = await sshTransport();
    try {
      // Two names for one host: one pooled connection (same user, address, port, keys).
      const host = tf.healthy[0]!.name;
      const targets = [
        { host, name: 'quick', sshConfig: tf.sshConfigPath },
        { host, name: 'slow', sshConfig: tf.sshConfigPath },
      ];
      const f = fleet(targets, { connect: transport.connect, concurrency: 2 });
      const run = f.each(async (shell, ctx) =>
        ctx.host === 'quick' ? (await shell`echo quick`).stdout : (await shell`sleep 1; echo slow`).stdout,
      );
      transport.releaseEachHost(run);
      let openWhenQuickEnded = -1;
      run.on('server:success', (p) => {
        if (p.server === 'quick') setImmediate(() => (openWhenQuickEnded = transport.openConnections()));
      });
      const report = await run;
      assert.deepEqual(
        report.hosts.map((h) => [h.host, h.status, h.value]),
        [
          ['quick', 'ok', 'quick\n'],
          ['slow', 'ok', 'slow\n'],
        ],
      );
      assert.equal(openWhenQuickEnded, 1, 'the shared connection stayed open for the slow host');
      await new Promise((r) => setImmediate(r));
      assert.equal(transport.openConnections(), 0, 'and was released once the slow host ended');
    } finally {
      await transport.close();
    }
  });
});
