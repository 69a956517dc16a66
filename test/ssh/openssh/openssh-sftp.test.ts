// File transfer over the OpenSSH transport against real sshd: `ssh -s sftp` on each host's
// ControlMaster carries sftp.ts's transfers (a file and a tree, up and down, with the same atomic
// replace and name-safety rules), and a fleet's upload and download (the CLI's copy and pull) run
// through it with one master per host and no ssh2 connection.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../../src/index.js';
import { sshConnect } from '../../../src/fleet/connect.js';
import { TransferError } from '../../../src/ssh/sftp.js';
import type { SshFunction } from '../../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../../harness/fleet.js';
import { sshFor, targetOf } from '../helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('SFTP over the OpenSSH transport', { skip, timeout: 180_000 }, () => {
  let tf: TestFleet;
  let ssh: SshFunction;
  let local: string;
  let remote: string; // the harness hosts are this machine: a remote path is a local folder too
  before(async () => {
    tf = await startFleet({ healthy: 3 });
    ssh = sshFor(tf);
    local = mkdtempSync(path.join(tmpdir(), 'fleetsh-openssh-sftp-local-'));
    remote = mkdtempSync(path.join(tmpdir(), 'fleetsh-openssh-sftp-remote-'));
  });
  after(async () => {
    await ssh?.close();
    await tf?.stop();
    rmSync(local, { recursive: true, force: true });
    rmSync(remote, { recursive: true, force: true });
  });
  const host = (i = 0) => ssh(targetOf(tf, tf.healthy[i]!, { transport: 'openssh' }));

  test('a file goes up and comes back the same, with its mode, through the master and not ssh2', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const src = path.join(local, 'f.bin');
    writeFileSync(src, data, { mode: 0o604 });
    const s = host();
    const up = await s.uploadFile(src, path.join(remote, 'f.bin'));
    assert.equal(up.bytes, data.length);
    assert.equal(sha(readFileSync(path.join(remote, 'f.bin'))), sha(data));
    assert.equal(statSync(path.join(remote, 'f.bin')).mode & 0o777, 0o604);
    assert.deepEqual(
      readdirSync(remote).filter((n) => n.endsWith('.tmp')),
      [],
    );
    const back = path.join(local, 'back.bin');
    await s.downloadFile(path.join(remote, 'f.bin'), back);
    assert.equal(sha(readFileSync(back)), sha(data));
    assert.equal(ssh.pool.size, 0, 'no ssh2 connection was made');
    assert.equal(ssh.pool.masters.size, 1, 'one master carried both');
  });

  test('a tree goes up and comes down; a link out of the tree is refused on the way down', async () => {
    const tree = path.join(local, 'tree');
    mkdirSync(path.join(tree, 'sub'), { recursive: true });
    writeFileSync(path.join(tree, 'a.txt'), 'a\n');
    writeFileSync(path.join(tree, 'sub', 'b.txt'), 'b\n');
    const s = host();
    const up = await s.uploadDirectory(tree, path.join(remote, 'tree'));
    assert.equal(up.files, 2);
    assert.equal(readFileSync(path.join(remote, 'tree', 'sub', 'b.txt'), 'utf8'), 'b\n');
    symlinkSync('/etc/passwd', path.join(remote, 'tree', 'escape'));
    const dest = path.join(local, 'tree-back');
    const err = await s.downloadDirectory(path.join(remote, 'tree'), dest).then(
      () => assert.fail('a link out of the tree was followed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransferError, String(err));
    assert.equal(err.rejected.length, 1);
    assert.deepEqual(readdirSync(dest).sort(), ['a.txt', 'sub']);
    assert.equal(readFileSync(path.join(dest, 'sub', 'b.txt'), 'utf8'), 'b\n');
  });

  test("a fleet's upload and download (copy and pull) go through one master per host", async () => {
    const src = path.join(local, 'payload.txt');
    writeFileSync(src, 'payload\n');
    const targets = tf.healthy.map((h) => ({
      ...targetOf(tf, h),
      name: h.name,
      transport: 'openssh' as const,
    }));
    const f = fleet(targets, { connect: sshConnect(ssh) });
    const up = await f.upload(src, path.join(remote, 'fleet', 'p.txt'), {
      verify: true,
    });
    assert.equal(up.counts.ok, 3, up.toText());
    assert.ok(up.hosts.every((h) => h.value!.files[0]!.verified === true));
    const pulled = path.join(local, 'pulled');
    const down = await f.download(path.join(remote, 'fleet', 'p.txt'), pulled);
    assert.equal(down.counts.ok, 3, down.toText());
    for (const h of tf.healthy)
      assert.equal(readFileSync(path.join(pulled, h.name, 'p.txt'), 'utf8'), 'payload\n');
    assert.equal(ssh.pool.size, 0, 'no ssh2 connection was made');
    assert.equal(ssh.pool.masters.size, 3);
  });
});
