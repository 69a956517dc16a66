// Under a low open-files limit: a connection that finds no descriptor tries again while its connect
// timeout allows (the pool closes idle connections past maxIdle), then fails with kind 'resources'
// and a message that names the limit and what to do (not 'auth', as a failed key read looked
// before); a fleet run with a small window needs descriptors for its window and the pool's bounded
// idle connections, not one per host it has visited.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt } from '../cli/helpers.js';
import { settlesWithin } from '../harness/settle.js';

const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') || (!existsSync('/usr/bin/prlimit') && 'no prlimit');
const fixture = new URL('./fixtures/fd-limit.mjs', import.meta.url).pathname;
/** Node with the library loaded holds about 20 descriptors (measured); this leaves room for 44 more. Set once it is loaded. */
const LIMIT = 64;

describe('a low open-files limit', { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 48 });
  });
  after(() => fleet?.stop());

  // Spawned, not spawnSync: the harness's sshd write their logs to this process, which must keep
  // reading them while the child runs.
  const run = async (arg: object) => {
    const child = spawn(process.execPath, [fixture, JSON.stringify(arg)], {
      env: { ...process.env, SSH_AUTH_SOCK: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let limited = false;
    child.stdout.on('data', (d) => {
      out += d;
      // The library is loaded: the limit applies from here on, to what the test is about.
      if (!limited && out.startsWith('loaded\n')) {
        limited = true;
        const r = spawnSync('prlimit', ['--pid', String(child.pid), `--nofile=${LIMIT}:${LIMIT}`]);
        if (r.status !== 0) child.kill('SIGKILL');
        else child.stdin.write('go\n');
      }
    });
    child.stderr.on('data', (d) => (err += d));
    const code = await settlesWithin(
      new Promise<number | null>((r) => child.on('close', r)),
      120_000,
      'the fixture',
    ).finally(() => child.kill('SIGKILL'));
    assert.equal(code, 0, err);
    return JSON.parse(out.trim().split('\n').at(-1)!);
  };
  const targets = (connectTimeout = '10s') =>
    fleet.healthy.map((h) => ({ host: h.name, sshConfig: fleet.sshConfigPath, connectTimeout }));

  test('48 hosts at once under a limit of 64: all answer, waiting for descriptors that idle connections give back', async () => {
    const { kinds } = await run({ mode: 'all', targets: targets('10s'), command: 'echo ok' });
    assert.deepEqual(kinds, { ok: 48 });
  });

  test('48 busy hosts at once under a limit of 64: those that get no descriptor fail as resources, naming the limit', async () => {
    const { kinds, message } = await run({ mode: 'all', targets: targets('1s'), command: 'sleep 3' });
    assert.ok(kinds.resources > 0 && kinds.ok > 0, JSON.stringify(kinds));
    assert.equal(kinds.ok + kinds.resources, 48, JSON.stringify(kinds));
    assert.match(message, /ran out of file descriptors \(EMFILE: the limit is 64 open files/);
    assert.match(message, /lower the concurrency, or raise the limit \(ulimit -n \d+\)/);
  });

  test('a fleet run of 48 hosts with a window of 8 under the same limit: every host answers', async () => {
    const { counts, peakFds, errors } = await run({ mode: 'fleet', targets: targets(), concurrency: 8 });
    assert.equal(counts.ok, 48, JSON.stringify(errors));
    assert.ok(peakFds < LIMIT, `peak ${peakFds} descriptors`);
  });
});
