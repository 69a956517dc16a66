// Slow, bounded stress case: 500 harness hosts through Promise.all with no limit in user code
// (the pool's global handshake cap is what keeps it from starting 500 key exchanges at once).
// Run with `npm run test:stress`.
import { after, before, describe, test } from 'node:test';
import { startFleet, sshdAvailable, type TestFleet } from '../test/harness/fleet.js';
import { promiseAllOverFleet } from '../test/ssh/helpers.js';

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
    await promiseAllOverFleet(fleet);
  });
});
