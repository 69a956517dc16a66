// SFTP over a process's pipes (sftp-stdio.ts) against a real sshd: `ssh -s host sftp` from the
// system client carries the same transfers as an ssh2 channel (a file and a tree, up and down,
// with the downloads' name-safety rules), and a process that ends or never answers fails the
// transfer with a message, within its timeout, leaving no process behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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
import { transfersOver, TransferError } from '../../src/ssh/sftp.js';
import { processSftp } from '../../src/ssh/sftp-stdio.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { HOSTILE_USER, startHostile } from '../harness/hostile.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('SFTP over ssh -s sftp', { skip }, () => {
  let fleet: TestFleet;
  let local: string;
  let remote: string; // the harness hosts are this machine: a remote path is a local folder too
  const children = new Set<number>();
  const over = (argv: string[]) =>
    transfersOver(
      processSftp('h', async () => {
        const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
        children.add(child.pid!);
        child.once('close', () => children.delete(child.pid!));
        return { child };
      }),
    );
  const viaSsh = () =>
    over(['ssh', ...fleet.sshArgs(fleet.healthy[0]!).slice(0, -1), '-s', fleet.healthy[0]!.name, 'sftp']);
  const processesGone = async () => {
    for (let i = 0; i < 200 && children.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
  };
  before(async () => {
    fleet = await startFleet({ healthy: 1 });
    local = mkdtempSync(path.join(tmpdir(), 'fleetsh-sftp-stdio-local-'));
    remote = mkdtempSync(path.join(tmpdir(), 'fleetsh-sftp-stdio-remote-'));
  });
  after(async () => {
    await fleet?.stop();
    rmSync(local, { recursive: true, force: true });
    rmSync(remote, { recursive: true, force: true });
  });

  test('a 5 MiB file goes up and comes back the same, atomically, with its mode', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17);
    const src = path.join(local, 'f.bin');
    writeFileSync(src, data, { mode: 0o640 });
    const t = viaSsh();
    const up = await t.uploadFile(src, path.join(remote, 'f.bin'));
    assert.equal(up.bytes, data.length);
    assert.equal(sha(readFileSync(path.join(remote, 'f.bin'))), sha(data));
    assert.equal(statSync(path.join(remote, 'f.bin')).mode & 0o777, 0o640);
    assert.deepEqual(
      readdirSync(remote).filter((n) => n.endsWith('.tmp')),
      [],
      'no temporary file left',
    );
    const back = path.join(local, 'back.bin');
    const down = await t.downloadFile(path.join(remote, 'f.bin'), back);
    assert.equal(down.bytes, data.length);
    assert.equal(sha(readFileSync(back)), sha(data));
    // A session closes by ending the process's stdin: the process exits on its own, soon after.
    await processesGone();
    assert.equal(children.size, 0, 'each session ended with its process');
  });

  test('a tree goes up and comes down; a link out of the tree is refused on the way down', async () => {
    const tree = path.join(local, 'tree');
    mkdirSync(path.join(tree, 'a', 'b'), { recursive: true });
    writeFileSync(path.join(tree, 'top.txt'), 'top\n');
    writeFileSync(path.join(tree, 'a', 'b', 'deep.txt'), 'deep\n');
    const t = viaSsh();
    const up = await t.uploadDirectory(tree, path.join(remote, 'tree'));
    assert.equal(up.files, 2);
    assert.equal(readFileSync(path.join(remote, 'tree', 'a', 'b', 'deep.txt'), 'utf8'), 'deep\n');
    symlinkSync('/etc/passwd', path.join(remote, 'tree', 'out'));
    const dest = path.join(local, 'tree-back');
    const err = await t.downloadDirectory(path.join(remote, 'tree'), dest).then(
      () => assert.fail('the link out of the tree was followed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransferError, String(err));
    assert.equal(err.rejected.length, 1);
    assert.equal(readFileSync(path.join(dest, 'a', 'b', 'deep.txt'), 'utf8'), 'deep\n');
    assert.equal(readFileSync(path.join(dest, 'top.txt'), 'utf8'), 'top\n');
    assert.deepEqual(readdirSync(dest).sort(), ['a', 'top.txt']);
  });

  test('a server that lies in its listings, through the system ssh: the unsafe names are refused, nothing lands outside', async () => {
    const server = await startHostile({
      noAuth: true,
      listing: ['good.txt', '../escape.txt', 'a/b.txt', 'esc\x1b]0;PWNED\x07', 'outside-link'],
      links: { 'outside-link': '/etc/passwd' },
      content: 'from the server\n',
    });
    const base = path.join(local, 'lying');
    const dest = path.join(base, 'dest');
    mkdirSync(base);
    try {
      const kh = server.target().knownHosts as string;
      const t = over([
        'ssh',
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${kh}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        'StrictHostKeyChecking=yes',
        '-p',
        String(server.port),
        '-s',
        `${HOSTILE_USER}@127.0.0.1`,
        'sftp',
      ]);
      const err = await t.downloadDirectory('/srv', dest, { timeout: '60s' }).then(
        () => assert.fail('the download resolved'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TransferError, String(err));
      assert.deepEqual(
        err.rejected.map((r) => r.path).sort(),
        ['/srv/../escape.txt', '/srv/a/b.txt', '/srv/esc\x1b]0;PWNED\x07', '/srv/outside-link'].sort(),
      );
      assert.doesNotMatch(err.message, /[\x00\x07\x1b]/);
      assert.deepEqual(readdirSync(dest), ['good.txt']);
      assert.deepEqual(readdirSync(base), ['dest']);
    } finally {
      await server.close();
    }
  });

  test('a process that ends before answering fails the transfer with its exit and stderr', async () => {
    const t = over(['sh', '-c', 'echo "subsystem request failed on channel 0" >&2; exit 255']);
    const err = await t.downloadFile('/etc/hostname', path.join(local, 'x')).then(
      () => assert.fail('a transfer over a dead process succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransferError);
    assert.match(err.message, /exit 255/);
    assert.match(err.message, /subsystem request failed/);
  });

  test('a process that answers with garbage fails the transfer at once and is killed', async () => {
    // A length field with its top bit set (ssh2's parser reads it as negative), then silence.
    const t = over(['sh', '-c', "printf '\\377\\377\\377\\377junk'; exec sleep 600"]);
    const started = performance.now();
    const err = await t.downloadFile('/etc/hostname', path.join(local, 'z'), { timeout: '60s' }).then(
      () => assert.fail('a transfer over garbage succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransferError, String(err));
    assert.equal(err.kind, 'failed');
    assert.match(err.message, /malformed packet/i);
    assert.ok(performance.now() - started < 30_000, 'not the timeout');
    await processesGone();
    assert.equal(children.size, 0, 'the process was killed');
  });

  test('a process that never answers: the transfer times out and the process is killed', async () => {
    const t = over(['sleep', '600']);
    const started = performance.now();
    const err = await t.downloadFile('/etc/hostname', path.join(local, 'y'), { timeout: '1s' }).then(
      () => assert.fail('a transfer over a silent process succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransferError);
    assert.equal(err.kind, 'timeout');
    assert.ok(performance.now() - started < 20_000);
    await processesGone();
    assert.equal(children.size, 0, 'the silent process was killed');
  });
});
