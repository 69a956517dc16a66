// `fleetsh copy` and `pull` with --transport openssh against real sshd: a file and a tree go to
// every host and come back through `ssh -s sftp` on each host's ControlMaster, with the same
// report and the same checks as over ssh2; no master is left running once fleetsh exits.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { pidsMentioning } from '../harness/procs.js';
import { ensureBuilt, fleetsh, scratch, type CliOptions } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('fleetsh copy and pull over --transport openssh', { skip, timeout: 180_000 }, () => {
  let tf: TestFleet;
  const tmp = scratch();
  const opts = (): CliOptions => ({ timeoutMs: 90_000, env: { FLEETSH_STATE_FILE: tmp.stateFile } });
  const conn = () => ['-F', tf.sshConfigPath, '--transport', 'openssh', '-w', 'h[01-03]'];
  before(async () => {
    ensureBuilt();
    tf = await startFleet({ healthy: 3 });
  });
  after(async () => {
    await tf?.stop();
    tmp.cleanup();
  });

  test('a file and a tree go up to every host and come back', async () => {
    const src = join(tmp.dir, 'one.txt');
    writeFileSync(src, 'one\n');
    const tree = join(tmp.dir, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    writeFileSync(join(tree, 'sub', 'two.txt'), 'two\n');
    // The hosts are this machine: each host's copy goes to a path of its own.
    const remote = join(tmp.dir, 'remote');
    mkdirSync(remote);
    const up = await fleetsh(['copy', ...conn(), src, join(remote, 'one.txt')], opts());
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.equal(readFileSync(join(remote, 'one.txt'), 'utf8'), 'one\n');
    const upTree = await fleetsh(['copy', ...conn(), tree, join(remote, 'tree')], opts());
    assert.equal(upTree.code, 0, upTree.stdout + upTree.stderr);
    assert.equal(readFileSync(join(remote, 'tree', 'sub', 'two.txt'), 'utf8'), 'two\n');
    const back = join(tmp.dir, 'back');
    const pull = await fleetsh(['pull', ...conn(), join(remote, 'tree'), back], opts());
    assert.equal(pull.code, 0, pull.stdout + pull.stderr);
    assert.deepEqual(readdirSync(back).sort(), ['h01', 'h02', 'h03']);
    for (const h of ['h01', 'h02', 'h03'])
      assert.equal(readFileSync(join(back, h, 'tree', 'sub', 'two.txt'), 'utf8'), 'two\n');
    // The masters were stopped when fleetsh exited (their command lines name the fleet's config).
    assert.deepEqual(
      pidsMentioning(tf.sshConfigPath).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith('ssh\0');
        } catch {
          return false;
        }
      }),
      [],
    );
  });
});
