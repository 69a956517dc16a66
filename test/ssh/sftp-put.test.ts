// One file up against real sshd, with OpenSSH's sftp-server logging every request: the upload is
// one SFTP session and no command, the temporary file is created new and private, its mode is set,
// it is flushed (fsync@openssh.com) before posix-rename@openssh.com puts it in place; a server that
// offers neither extension gets a plain RENAME, with a move-aside when the destination exists.
// The demo's ssh2 server (no extension, writes of at most 32 000 bytes) gets every byte in order.
// (A server that stops answering mid-write: test/ssh/stalls.test.ts "an SFTP write left unanswered".)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDemoFleet } from '../../src/demo/index.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { recorder, recorderAvailable, type Recorder } from '../harness/recorder.js';
import { createSsh } from '../../src/ssh/shell.js';
import { SshPool } from '../../src/ssh/pool.js';
import { sshFor, targetOf } from './helpers.js';

const skip = (!sshdAvailable() || !recorderAvailable()) && 'OpenSSH sshd or sftp-server not installed';

/** The lines of sftp-server's log that name a request on a file, in order, with `dir` shortened to `D`. */
function requests(rec: Recorder, dir: string): string[] {
  return rec
    .sftpLog()
    .split(/\r?\n/)
    .filter((l) => /^(open|fsync|posix-rename|rename|remove|set|close) /.test(l))
    .map((l) =>
      l
        .replaceAll(dir, 'D')
        .replace(/fleetsh-[0-9a-f]{12}\.(tmp|old)/g, 'fleetsh-X.$1')
        .replace(/ bytes read \d+ written (\d+)/, ' written $1'),
    );
}

for (const plain of [false, true]) {
  describe(plain ? 'upload to a server without extensions' : 'upload to OpenSSH', { skip }, () => {
    let fleet: TestFleet;
    let ssh: SshFunction;
    let rec: Recorder;
    let work: string;
    let dir: string;
    before(async () => {
      work = mkdtempSync(path.join(tmpdir(), 'fleetsh-sftp-put-'));
      rec = recorder(work, { plainSftp: plain });
      fleet = await startFleet({ healthy: 1, extraSshdConfig: rec.sshdConfig });
      ssh = sshFor(fleet);
      dir = path.join(work, 'remote');
      mkdirSync(dir);
    });
    after(async () => {
      await ssh?.close();
      await fleet?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('a new file: one SFTP session, a private temporary file, its mode, then into place', async () => {
      const data = randomBytes(1024 * 1024 + 5);
      const src = path.join(work, 'new.bin');
      writeFileSync(src, data, { mode: 0o750 });
      rec.clear();
      await ssh(targetOf(fleet, fleet.healthy[0]!)).uploadFile(src, path.join(dir, 'new.bin'));
      assert.ok(readFileSync(path.join(dir, 'new.bin')).equals(data));
      assert.equal(statSync(path.join(dir, 'new.bin')).mode & 0o7777, 0o750);
      assert.deepEqual(readdirSync(dir), ['new.bin'], 'no temporary file left');
      assert.deepEqual(rec.sessions(), ['sftp'], 'no command ran');
      const tmp = 'D/remote/.new.bin.fleetsh-X.tmp';
      assert.deepEqual(requests(rec, work), [
        `open "${tmp}" flags WRITE,CREATE,TRUNCATE,EXCL mode 0600`,
        `set "${tmp}" mode 0750`,
        ...(plain ? [] : [`fsync "${tmp}"`]),
        `close "${tmp}" written ${data.length}`,
        plain
          ? `rename old "${tmp}" new "D/remote/new.bin"`
          : `posix-rename old "${tmp}" new "D/remote/new.bin"`,
      ]);
    });

    test('over an existing file: replaced whole, with its mode kept', async () => {
      const dest = path.join(dir, 'app.conf');
      writeFileSync(dest, 'old\n', { mode: 0o600 });
      const ino = statSync(dest).ino;
      const src = path.join(work, 'app.conf');
      writeFileSync(src, 'new\n', { mode: 0o644 });
      rec.clear();
      await ssh(targetOf(fleet, fleet.healthy[0]!)).uploadFile(src, dest);
      assert.equal(readFileSync(dest, 'utf8'), 'new\n');
      assert.notEqual(statSync(dest).ino, ino, 'a new file took its name');
      assert.equal(statSync(dest).mode & 0o7777, 0o600);
      assert.deepEqual(readdirSync(dir).sort(), ['app.conf', 'new.bin'], 'nothing left beside it');
      const tmp = 'D/remote/.app.conf.fleetsh-X.tmp';
      const old = 'D/remote/.app.conf.fleetsh-X.old';
      const into = plain
        ? [
            // OpenSSH's RENAME will not replace a file: the old one is moved aside, then removed.
            `rename old "${tmp}" new "D/remote/app.conf"`,
            `rename old "D/remote/app.conf" new "${old}"`,
            `rename old "${tmp}" new "D/remote/app.conf"`,
            `remove name "${old}"`,
          ]
        : [`posix-rename old "${tmp}" new "D/remote/app.conf"`];
      assert.deepEqual(requests(rec, work).slice(-into.length), into);
    });
  });
}

test("a server that takes smaller writes (the demo's ssh2 server) gets the file whole, over an existing one", async () => {
  const demo = await startDemoFleet({ count: 1 });
  const ssh = createSsh(new SshPool({ onWarning: () => {} }), {
    homedir: demo.dir,
    env: {},
    systemConfigFile: false,
    globalKnownHostsFiles: [],
  });
  try {
    const host = demo.hosts[0]!;
    const src = path.join(demo.dir, 'big.bin');
    // Not a multiple of 32 000 or 32 KiB: the last request is short.
    const data = randomBytes(3 * 1024 * 1024 + 777);
    writeFileSync(src, data);
    writeFileSync(path.join(host.dir, 'big.bin'), 'old\n');
    const s = ssh({ host: host.name, sshConfig: demo.sshConfigPath });
    await s.uploadFile(src, 'big.bin', { mode: 0o640 });
    assert.ok(readFileSync(path.join(host.dir, 'big.bin')).equals(data));
    assert.equal(statSync(path.join(host.dir, 'big.bin')).mode & 0o777, 0o640);
    assert.ok(!readdirSync(host.dir).some((n) => n.includes('fleetsh-')), 'no temporary file left');
  } finally {
    await ssh.close();
    await demo.stop();
  }
});
