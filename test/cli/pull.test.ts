// `fleetsh pull` against real OpenSSH servers: a file or a directory from every host into
// LOCALDIR/<host>/, checked against the SHA-256 each host computed; run's report and exit codes
// (2 with an unreachable host, 1 when a host refused entries of its tree, 0 otherwise); --json.
// The harness's hosts share this machine's file system, so "remote" files are folders of this test.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('fleetsh pull', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  let conn: string[];

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3, faults: ['dead-port'] });
    conn = ['-F', fleet.sshConfigPath];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('a file from every host into LOCALDIR/<host>/<name>, checked; an unreachable host makes it exit 2', async () => {
    const remote = join(tmp.dir, 'app.conf');
    writeFileSync(remote, 'listen 80;\n');
    const out = join(tmp.dir, 'out-file');
    const r = await fleetsh(['pull', ...conn, '-w', 'h[01-03],h-dead-port', remote, out], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.ok(
      r.stdout.includes(
        `h[01-03] (3): pulled ${remote} (11 bytes, sha256 ${sha256('listen 80;\n').slice(0, 12)}, verified)\n`,
      ),
      r.stdout,
    );
    assert.match(r.stdout, /^unreachable \(refused\): h-dead-port \(1\)$/m);
    assert.match(r.stdout, /^4 hosts: 3 ok, 1 unreachable/m);
    assert.deepEqual(readdirSync(out).sort(), ['h01', 'h02', 'h03']);
    for (const h of ['h01', 'h02', 'h03'])
      assert.equal(readFileSync(join(out, h, 'app.conf'), 'utf8'), 'listen 80;\n');
    const failed = await fleetsh(['hosts', '-w', '@unreachable'], { env });
    assert.equal(failed.stdout, 'h-dead-port\n', 'the last run is recorded as run records it');
  });

  test('a directory: its tree under LOCALDIR/<host>/<name>/, every file verified; --json has each file', async () => {
    const tree = join(tmp.dir, 'etc-app');
    mkdirSync(join(tree, 'conf.d'), { recursive: true });
    writeFileSync(join(tree, 'main.conf'), 'main\n');
    writeFileSync(join(tree, 'conf.d', 'a.conf'), 'a\n');
    const out = join(tmp.dir, 'out-tree');
    const r = await fleetsh(['pull', ...conn, '-w', 'h[01-02]', tree, out], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes(`h[01-02] (2): pulled ${tree}: 2 files, 7 bytes, each verified\n`), r.stdout);
    assert.equal(readFileSync(join(out, 'h02', 'etc-app', 'conf.d', 'a.conf'), 'utf8'), 'a\n');
    const json = await fleetsh(['pull', ...conn, '-w', 'h01', tree, out, '--json'], { env });
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.exitCode, 0);
    assert.deepEqual(
      doc.hosts[0].value.files.map((f: { local: string; sha256: string; verified: boolean }) => [
        f.local,
        f.sha256,
        f.verified,
      ]),
      [
        [join(out, 'h01', 'etc-app', 'conf.d', 'a.conf'), sha256('a\n'), true],
        [join(out, 'h01', 'etc-app', 'main.conf'), sha256('main\n'), true],
      ],
    );
  });

  test('names unsafe on this machine are refused one a line, naming the entry and the host; exit 1', async () => {
    const tree = join(tmp.dir, 'hostile');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'ok.txt'), 'ok\n');
    writeFileSync(join(tree, 'x\x1b[2Jy'), 'x\n');
    symlinkSync('/etc/passwd', join(tree, 'passwd'));
    const out = join(tmp.dir, 'out-hostile');
    const r = await fleetsh(['pull', ...conn, '-w', 'h01', tree, out], { env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /\x1b/, 'the name is shown escaped');
    assert.match(r.stdout, /^failed: h01 \(1\)$/m);
    assert.ok(
      r.stdout.includes(`h01: "${tree}/x\\u001b[2Jy" refused: unsafe as a local file name`),
      r.stdout,
    );
    assert.ok(
      r.stdout.includes(`h01: "${tree}/passwd" refused: a symbolic link out of the tree (to /etc/passwd)`),
      r.stdout,
    );
    assert.deepEqual(readdirSync(join(out, 'h01', 'hostile')), ['ok.txt']);
  });

  test('a missing remote path fails each host, saying so', async () => {
    const r = await fleetsh(['pull', ...conn, '-w', 'h01', join(tmp.dir, 'nope'), join(tmp.dir, 'o')], {
      env,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /h01: .*nope does not exist or cannot be read/);
  });
});
