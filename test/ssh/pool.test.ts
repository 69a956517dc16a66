// The connection pool against real sshd: one handshake per target however many commands start at
// once, idle connections closed, 500 hosts through Promise.all with no limit in user code.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { SshPool } from '../../src/ssh/pool.js';
import { promiseAllOverFleet, sshFor, targetOf } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('ssh pool', { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet({ healthy: 3 });
  });
  after(async () => {
    await fleet?.stop();
  });

  test('pool options are validated, naming the option', () => {
    assert.throws(
      () => new SshPool({ maxIdle: -1 }),
      /pool option maxIdle: expected a whole number ≥ 0, got -1/,
    );
    assert.throws(() => new SshPool().configure({ maxHandshakes: 0 }), /pool option maxHandshakes/);
    assert.throws(() => new SshPool({ idleTimeoutMs: 1.5 }), /pool option idleTimeoutMs/);
  });

  test('maxIdle: past it, the connection unused the longest is closed; a busy one never is', async () => {
    const ssh = sshFor(fleet, { maxIdle: 1 });
    try {
      const [a, b, c] = fleet.healthy.map((h) => ssh(targetOf(fleet, h)));
      const busy = a!`sleep 1; echo busy`.then((r) => r.stdout); // held while the others come and go
      await b!`true`;
      assert.equal(ssh.pool.stats().connections, 2, 'a (busy) and b (idle)');
      await c!`true`;
      assert.equal(ssh.pool.stats().connections, 2, 'b was closed for c: one idle at most');
      assert.equal(await busy, 'busy\n');
      assert.equal(ssh.pool.stats().connections, 1, 'c was closed once a became idle');
      const before = ssh.pool.stats().handshakes;
      await a!`true`;
      assert.equal(ssh.pool.stats().handshakes, before, 'the idle connection kept is the newest (a)');
    } finally {
      await ssh.close();
    }
  });

  test('concurrent first commands to one host share one handshake; shells for the same target share the connection', async () => {
    const ssh = sshFor(fleet);
    try {
      const h = fleet.healthy[0]!;
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => ssh(targetOf(fleet, h))`echo ${i}`),
      );
      assert.equal(results.length, 30);
      assert.equal(ssh.pool.stats().handshakes, 1);
      assert.equal(ssh.pool.stats().connections, 1);
      // Another target (another host) is another connection.
      await ssh(targetOf(fleet, fleet.healthy[1]!))`true`;
      assert.equal(ssh.pool.stats().handshakes, 2);
      // The batch-operations guide's health check: four commands at once on one shell.
      const s = ssh(targetOf(fleet, h));
      const checks = await Promise.allSettled([
        s`echo a`,
        s`df -h / | tail -1`,
        s`free | grep Mem`,
        s`uptime`,
      ]);
      assert.ok(checks.every((c) => c.status === 'fulfilled'));
      assert.equal(ssh.pool.stats().handshakes, 2);
    } finally {
      await ssh.close();
    }
  });

  test('idle connections close after idleTimeoutMs; the next command reconnects', async () => {
    const ssh = sshFor(fleet, { idleTimeoutMs: 300 });
    try {
      const s = ssh(targetOf(fleet, fleet.healthy[2]!));
      await s`true`;
      assert.equal(ssh.pool.stats().connections, 1);
      // A running command is not idle.
      await s`sleep 0.6`;
      assert.equal(ssh.pool.stats().connections, 1);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(ssh.pool.stats().connections, 0);
      assert.equal((await s`echo again`).stdout, 'again\n');
      assert.equal(ssh.pool.stats().handshakes, 2);
    } finally {
      await ssh.close();
    }
  });

  test("close() closes the target's connection; `await using` closes too", async () => {
    const ssh = sshFor(fleet);
    {
      await using s = ssh(targetOf(fleet, fleet.healthy[0]!));
      await s`true`;
      assert.equal(ssh.pool.stats().connections, 1);
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(ssh.pool.stats().connections, 0);
    await ssh.close();
  });

  test('release() closes a connection nothing uses, and leaves one a command runs on', async () => {
    const ssh = sshFor(fleet);
    try {
      const s = ssh(targetOf(fleet, fleet.healthy[1]!));
      const target = await s.resolve();
      assert.equal(ssh.pool.release(target), false, 'no connection yet');
      // The command runs (its first line came) when release() is asked.
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const busy = s`echo started; sleep 0.5; echo done`.onLine(() => started()).then((r) => r);
      await running;
      assert.equal(ssh.pool.release(target), false, 'a command runs on it');
      assert.equal((await busy).stdout, 'started\ndone\n', 'and it ran to its end');
      assert.equal(ssh.pool.release(target), true);
      assert.equal(ssh.pool.stats().connections, 0);
      assert.equal((await s`echo again`).stdout, 'again\n', 'the next command connects again');
    } finally {
      await ssh.close();
    }
  });
});

describe('ssh pool at scale', { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet({ healthy: 64 });
  });
  after(async () => {
    await fleet?.stop();
  });

  test('64 hosts through Promise.all with no limit in user code all succeed (500: test-stress/)', async () => {
    await promiseAllOverFleet(fleet);
  });
});
