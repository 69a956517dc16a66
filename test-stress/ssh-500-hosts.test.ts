// Slow, bounded stress case: 500 harness hosts through Promise.all with no limit in user code
// (the pool's global handshake cap is what keeps it from starting 500 key exchanges at once).
// Run with `npm run test:stress`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFleet, sshdAvailable, type TestFleet } from '../test/harness/fleet.js';
import { sshFor, targetOf } from '../test/ssh/helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('ssh pool at scale', { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet({ healthy: 500 });
  });
  after(async () => {
    await fleet?.stop();
  });

  test('500 hosts through Promise.all with no limit in user code all succeed', async () => {
    const ssh = sshFor(fleet);
    try {
      const t0 = performance.now();
      const results = await Promise.allSettled(
        fleet.healthy.map((h) => ssh(targetOf(fleet, h))`echo ${h.name}`),
      );
      const failed = results.flatMap((r) =>
        r.status === 'rejected' ? [String(r.reason?.message ?? r.reason)] : [],
      );
      assert.deepEqual(failed, []);
      assert.equal(ssh.pool.stats().handshakes, 500);
      const took = performance.now() - t0;
      process.stderr.write(`# 500 hosts: ${Math.round(took)} ms\n`);
    } finally {
      await ssh.close();
    }
  });
});
