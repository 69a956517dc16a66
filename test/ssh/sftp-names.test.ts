// A server chooses the names in its directory listings, so a download must not let it choose where
// files land (the scp bug CVE-2019-6111): a name that is not one safe path component, or a link out
// of the tree, is refused with an error that names the entry and the host, and nothing is written
// outside the destination. Against a hostile ssh2 server that lies in READDIR, and against a real
// sshd serving a folder with awkward names and links.
import assert from 'node:assert/strict';
import {
  existsSync,
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
import { hostComponent, unsafeComponent } from '../../src/local/safe-name.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { TransferError } from '../../src/ssh/sftp.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { startHostile } from '../harness/hostile.js';
import { settlesWithin } from '../harness/settle.js';
import { sshFor, targetOf } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('names that are unsafe as one path component', () => {
  test('are refused with the reason; ordinary names, dots inside and Unicode pass', () => {
    for (const [name, reason] of [
      ['', /empty/],
      ['.', /"\."/],
      ['..', /"\.\."/],
      ['a/b', /"\/"/],
      ['../x', /"\/"/],
      ['a\\b', /"\\"/],
      ['nul\0x', /NUL/],
      ['esc\x1b[2J', /control/],
      ['tab\tx', /control/],
      ['c1\x9bx', /control/],
      ['del\x7f', /control/],
    ] as const)
      assert.match(unsafeComponent(name) ?? 'safe', reason, JSON.stringify(name));
    for (const name of ['file.txt', '...', '.hidden', 'a..b', 'été', 'web1.example.com', '[::1]:22'])
      assert.equal(unsafeComponent(name), undefined, name);
  });

  test('a host name always becomes one safe component', () => {
    for (const host of ['..', '.', '', 'a/b', '../../etc', 'x\x1by', 'web1'])
      assert.equal(unsafeComponent(hostComponent(host)), undefined, host);
    assert.equal(hostComponent('web1'), 'web1');
    assert.equal(hostComponent('..'), '_..');
  });
});

describe('a directory download from a server that lies in its listings', { skip: false }, () => {
  let ssh: SshFunction;
  let work: string;
  before(() => {
    ssh = sshFor({ dir: tmpdir() } as TestFleet);
    work = mkdtempSync(path.join(tmpdir(), 'fleetsh-names-'));
  });
  after(async () => {
    await ssh.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('copies the safe entries, refuses each unsafe one by name, and writes nothing outside the destination', async () => {
    const evil = [
      'good.txt',
      '../escape.txt',
      '../../escape2.txt',
      'a/b.txt',
      'nul\0name',
      'esc\x1b]0;PWNED\x07',
    ];
    const server = await startHostile({
      listing: [...evil, 'inside-link', 'outside-link'],
      links: { 'inside-link': '/srv/good.txt', 'outside-link': '/etc/passwd' },
      content: 'from the server\n',
    });
    const base = path.join(work, 'lying');
    const dest = path.join(base, 'dest');
    mkdirSync(base);
    try {
      const error = await settlesWithin(
        ssh(server.target()).downloadDirectory('/srv', dest),
        20_000,
        'the download',
      ).then(
        () => assert.fail('the download resolved'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof TransferError, String(error));
      assert.equal(error.kind, 'failed');
      assert.equal(error.host, `127.0.0.1:${server.port}`);
      const refused = error.rejected.map((r) => path.posix.basename(r.path.replace(/^\/srv\//, '')));
      assert.deepEqual(
        error.rejected.map((r) => r.path).sort(),
        [
          '/srv/../escape.txt',
          '/srv/../../escape2.txt',
          '/srv/a/b.txt',
          '/srv/nul\0name',
          '/srv/esc\x1b]0;PWNED\x07',
          '/srv/outside-link',
        ].sort(),
        String(refused),
      );
      assert.match(error.message, /6 entries were refused, the rest was copied/);
      assert.match(error.message, /a symbolic link out of the tree \(to \/etc\/passwd\)/);
      // The message shows the names, escaped: no raw control character reaches a terminal.
      assert.doesNotMatch(error.message, /[\x00\x07\x1b]/);
      assert.match(error.message, /esc\\u001b\]0;PWNED\\u0007/);
      // What was copied, and nothing anywhere else.
      assert.deepEqual(readdirSync(dest).sort(), ['good.txt', 'inside-link']);
      assert.equal(readFileSync(path.join(dest, 'good.txt'), 'utf8'), 'from the server\n');
      assert.deepEqual(readdirSync(base), ['dest']);
      assert.ok(!existsSync(path.join(work, 'escape2.txt')));
      assert.equal(error.result?.files, 2);
    } finally {
      await server.close();
    }
  });
});

describe('modes a server claims', () => {
  test('a download never takes the set-user-ID, set-group-ID or sticky bits from the server', async () => {
    const ssh = sshFor({ dir: tmpdir() } as TestFleet);
    const server = await startHostile({ listing: ['tool'], fileMode: 0o107755 });
    const dest = mkdtempSync(path.join(tmpdir(), 'fleetsh-names-mode-'));
    try {
      const s = ssh(server.target());
      await s.downloadDirectory('/srv', path.join(dest, 'tree'));
      await s.downloadFile('/srv/tool', path.join(dest, 'one'));
      assert.equal(statSync(path.join(dest, 'tree', 'tool')).mode & 0o7777, 0o755);
      assert.equal(statSync(path.join(dest, 'one')).mode & 0o7777, 0o755);
    } finally {
      await ssh.close();
      await server.close();
      rmSync(dest, { recursive: true, force: true });
    }
  });
});

describe('a directory download from real sshd with awkward names and links', { skip }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  let work: string;
  before(async () => {
    fleet = await startFleet({ healthy: 1 });
    ssh = sshFor(fleet);
    work = mkdtempSync(path.join(tmpdir(), 'fleetsh-names-real-'));
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('a name with a control character and a link out of the tree are refused; a link to a file inside is copied', async () => {
    // The harness hosts are this machine: the "remote" tree is a local folder.
    const tree = path.join(work, 'tree');
    mkdirSync(path.join(tree, 'sub'), { recursive: true });
    writeFileSync(path.join(tree, 'plain.txt'), 'plain\n');
    writeFileSync(path.join(tree, 'new\nline.txt'), 'x\n');
    writeFileSync(path.join(tree, 'sub', 'deep.txt'), 'deep\n');
    symlinkSync(path.join(tree, 'plain.txt'), path.join(tree, 'link-in'));
    symlinkSync('/etc/hostname', path.join(tree, 'link-out'));
    symlinkSync(path.join(tree, 'sub'), path.join(tree, 'link-dir'));
    const dest = path.join(work, 'dest');
    const error = await settlesWithin(
      ssh(targetOf(fleet, fleet.healthy[0]!)).downloadDirectory(tree, dest),
      20_000,
      'the download',
    ).then(
      () => assert.fail('the download resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof TransferError, String(error));
    assert.deepEqual(
      error.rejected.map((r) => path.basename(r.path)).sort(),
      ['link-out', 'new\nline.txt'].sort(),
    );
    assert.match(error.message, /control character/);
    assert.deepEqual(readdirSync(dest).sort(), ['link-in', 'plain.txt', 'sub']);
    assert.equal(readFileSync(path.join(dest, 'link-in'), 'utf8'), 'plain\n');
    assert.equal(readFileSync(path.join(dest, 'sub', 'deep.txt'), 'utf8'), 'deep\n');
    assert.deepEqual(
      error.result?.skipped?.map((s) => path.basename(s.path)),
      ['link-dir'],
      'a link to a folder is not followed',
    );
  });
});
