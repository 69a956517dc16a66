// -N/--no-prefix, as pdsh -N: the hosts' lines without the host prefix, so that stdout holds what
// the hosts printed and nothing else; the end of the run (failures, summary) goes to stderr.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, HOSTILE, HOSTILE_SHOWN, scratch } from './helpers.js';

describe('fleetsh run -N', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  let conn: string[];

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3 });
    conn = ['-F', fleet.sshConfigPath];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test("stdout holds exactly the hosts' lines; the failures and the summary are on stderr", async () => {
    const fail = `case " $SSH_CONNECTION " in *" ${fleet.host('h02').address} "*) echo oops >&2; exit 2;; esac`;
    const r = await fleetsh(
      ['run', ...conn, '-N', '-w', 'h[01-03]', '--', `echo "line of $FLEETSH_HOST"; ${fail}`],
      {
        env,
      },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), [
      'line of h01',
      'line of h02',
      'line of h03',
    ]);
    assert.match(r.stderr, /^oops$/m, 'stderr lines without the prefix too');
    assert.match(r.stderr, /^failed: h02 \(1\)$/m);
    assert.match(r.stderr, /^3 hosts: 2 ok, 1 failed/m);
    assert.doesNotMatch(r.stderr, /^h\[01-03\]/m, 'no gathered outputs: they would repeat the lines');
  });

  test('lines are still shown escaped (unless --raw); -N does not go with --json, --ndjson or --gather', async () => {
    const r = await fleetsh(['run', ...conn, '-N', '-w', 'h01', '--', HOSTILE], { env });
    assert.equal(r.stdout, `${HOSTILE_SHOWN}\n`);
    for (const mode of ['--json', '--ndjson', '--gather']) {
      const bad = await fleetsh(['run', ...conn, '-N', mode, '-w', 'h01', '--', 'true'], { env });
      assert.equal(bad.code, 64, mode);
      assert.match(bad.stderr, /cannot be used with/, mode);
    }
  });
});
