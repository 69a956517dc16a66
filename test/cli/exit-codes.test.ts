// -S/--max-exit, as pdsh -S: fleetsh exits with the largest remote exit status. The rule for hosts
// without one of their own (a signal, a timeout, an unreachable host, a host never started), and
// the CLI against real OpenSSH servers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { maxExitCodeFor, type HostExit } from '../../src/cli/exit-codes.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

const host = (
  status: HostExit['status'],
  exitCode: number | null = null,
  signal: string | null = null,
): HostExit => ({
  status,
  exitCode,
  signal,
});

test('the largest remote status; 128 + N for a signal, 124 a timeout, 255 unreachable, 1 never started', () => {
  assert.equal(maxExitCodeFor([]), 0);
  assert.equal(maxExitCodeFor([host('ok', 0), host('ok', 0)]), 0);
  assert.equal(maxExitCodeFor([host('ok', 0), host('failed', 3), host('failed', 7), host('failed', 2)]), 7);
  assert.equal(maxExitCodeFor([host('failed', null, 'SIGKILL')]), 137);
  assert.equal(maxExitCodeFor([host('failed', null, 'SIGTERM'), host('failed', 200)]), 200);
  assert.equal(maxExitCodeFor([host('ok', 0), host('timeout')]), 124);
  assert.equal(maxExitCodeFor([host('failed', 130), host('timeout')]), 130);
  assert.equal(maxExitCodeFor([host('failed', 3), host('unreachable')]), 255);
  assert.equal(maxExitCodeFor([host('ok', 0), host('skipped')]), 1);
  // A host that failed after its command exited 0 (a health check, say) is still not a success.
  assert.equal(maxExitCodeFor([host('failed', 0)]), 1);
});

describe('fleetsh run -S', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  let conn: string[];
  /** Exits with the status given for the host's address, else 0. */
  const exits = (codes: Record<string, number>) =>
    `case " $SSH_CONNECTION " in ${Object.entries(codes)
      .map(([name, code]) => `*" ${fleet.host(name).address} "*) exit ${code};;`)
      .join(' ')} esac`;

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3, faults: ['dead-port'] });
    conn = ['-F', fleet.sshConfigPath];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('exits with the largest remote exit status; without -S the usual 1', async () => {
    const command = exits({ h01: 3, h02: 7 });
    const s = await fleetsh(['run', ...conn, '-S', '-w', 'h[01-03]', '--', command], { env });
    assert.equal(s.code, 7, s.stderr);
    const plain = await fleetsh(['run', ...conn, '-w', 'h[01-03]', '--', command], { env });
    assert.equal(plain.code, 1);
    const ok = await fleetsh(['run', ...conn, '--max-exit', '-w', 'h[01-03]', '--', 'true'], { env });
    assert.equal(ok.code, 0);
    const json = await fleetsh(['run', ...conn, '-S', '--json', '-w', 'h[01-03]', '--', command], { env });
    assert.equal(json.code, 7);
    assert.equal(JSON.parse(json.stdout).exitCode, 7);
  });

  test("an unreachable host counts as 255 (ssh's own status), a timeout as 124, a signal as 128 + N", async () => {
    const dead = await fleetsh(['run', ...conn, '-S', '-w', 'h01,h-dead-port', '--', 'exit 9'], { env });
    assert.equal(dead.code, 255, dead.stderr);
    const slow = await fleetsh(
      ['run', ...conn, '-S', '-t', '300ms', '-w', 'h[01-02]', '--', `${exits({ h01: 5 })}; sleep 5`],
      {
        env,
      },
    );
    assert.equal(slow.code, 124, slow.stdout);
    const killed = await fleetsh(['run', ...conn, '-S', '-w', 'h01', '--', 'kill -KILL $$'], { env });
    assert.equal(killed.code, 137, killed.stdout);
  });
});
