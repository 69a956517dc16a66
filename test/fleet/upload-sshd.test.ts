// fleet.upload against real sshd that records every session it starts (test/harness/recorder.ts):
// by default a copy is one SFTP session per host and no command; `verify: true` adds the read-back
// (one checksum command per file), and catches a copy that changed on the host before it took its
// place: the destination keeps its old content and no temporary file is left.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $ } from '../../src/index.js';
import { sha256File } from '../../src/fleet/files.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { recorder, recorderAvailable, type Recorder } from '../harness/recorder.js';

const skip = (!sshdAvailable() || !recorderAvailable()) && 'OpenSSH sshd or sftp-server not installed';

describe('fleet.upload against real sshd, sessions recorded', { skip }, () => {
  let work: string;
  let rec: Recorder;
  let tf: TestFleet;
  let targets: { host: string; sshConfig: string }[];
  let src: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fleetsh-upload-sshd-'));
    // A host whose disk changes a file between its write and its read-back: every command first
    // appends a byte to the temporary copies under corrupt/.
    rec = recorder(work, {
      beforeCommand: `for f in ${work}/corrupt/.*.fleetsh-*.tmp; do [ -f "$f" ] && printf X >> "$f"; done`,
    });
    tf = await startFleet({ healthy: 3, extraSshdConfig: rec.sshdConfig });
    targets = tf.healthy.map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath }));
    src = join(work, 'payload.bin');
    await writeFile(src, Buffer.alloc(1024 * 1024, 9));
  });
  after(async () => {
    await $.close();
    await tf?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('by default each host gets one SFTP session and no command; with verify, one checksum command each', async () => {
    rec.clear();
    const up = await $.fleet(targets).upload(src, join(work, 'plain', 'a', 'payload.bin'));
    assert.equal(up.counts.ok, 3, up.toText());
    assert.deepEqual(rec.sessions(), ['sftp', 'sftp', 'sftp']);
    assert.ok(up.hosts.every((h) => h.value!.files[0]!.verified === false));
    assert.equal(up.hosts[0]!.value!.files[0]!.sha256, await sha256File(src));
    assert.deepEqual(await readdir(join(work, 'plain', 'a')), ['payload.bin']);

    rec.clear();
    const checked = await $.fleet(targets).upload(src, join(work, 'checked', 'payload.bin'), {
      verify: true,
    });
    assert.equal(checked.counts.ok, 3, checked.toText());
    assert.ok(checked.hosts.every((h) => h.value!.files[0]!.verified === true));
    const sessions = rec.sessions();
    // Each host's connection kept the first copy's SFTP session: the second copy opens none.
    assert.equal(sessions.filter((s) => s === 'sftp').length, 0, String(sessions));
    assert.equal(
      sessions.filter((s) => s.startsWith('command ') && s.includes('sha256sum')).length,
      3,
      String(sessions),
    );
    assert.ok((await readFile(join(work, 'checked', 'payload.bin'))).equals(await readFile(src)));
  });

  test('a directory is one SFTP session a host too, its folders made there; with verify, one command a file', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(tree, 'a.txt'), 'A\n');
    await writeFile(join(tree, 'sub', 'deeper', 'b.txt'), 'B\n');
    rec.clear();
    const up = await $.fleet(targets).upload(tree, join(work, 'trees', 'plain'));
    assert.equal(up.counts.ok, 3, up.toText());
    // One session a host at most (none when the host's connection kept one from an earlier copy).
    const opened = rec.sessions();
    assert.ok(opened.length <= 3 && opened.every((s) => s === 'sftp'), String(opened));
    assert.deepEqual(
      up.hosts[0]!.value!.files.map((f) => [f.remote, f.verified]),
      [
        [join(work, 'trees', 'plain', 'a.txt'), false],
        [join(work, 'trees', 'plain', 'sub', 'deeper', 'b.txt'), false],
      ],
    );
    assert.equal(await readFile(join(work, 'trees', 'plain', 'sub', 'deeper', 'b.txt'), 'utf8'), 'B\n');
    rec.clear();
    const checked = await $.fleet(targets.slice(0, 1)).upload(tree, join(work, 'trees', 'checked'), {
      verify: true,
    });
    assert.equal(checked.counts.ok, 1, checked.toText());
    assert.ok(checked.hosts[0]!.value!.files.every((f) => f.verified));
    assert.deepEqual(
      rec
        .sessions()
        .filter((s) => s !== 'sftp') // the host's kept session, or a new one
        .map((s) => (s.startsWith('command ') && s.includes('sha256sum') ? 'checksum' : s)),
      ['checksum', 'checksum'],
    );
    assert.ok(rec.sessions().filter((s) => s === 'sftp').length <= 1, String(rec.sessions()));
  });

  test('verify catches a copy changed on the host before it took its place; without verify nothing reads it back', async () => {
    const dest = join(work, 'corrupt', 'app.conf');
    await mkdir(join(work, 'corrupt'));
    await writeFile(dest, 'the old one\n');
    const one = targets.slice(0, 1);
    const up = await $.fleet(one).upload(src, dest, { verify: true });
    const h = up.hosts[0]!;
    assert.equal(h.status, 'failed', up.toText());
    assert.match(h.error!, /upload of .*app\.conf failed its checksum; the file was not replaced/);
    assert.equal(await readFile(dest, 'utf8'), 'the old one\n');
    assert.deepEqual(await readdir(join(work, 'corrupt')), ['app.conf'], 'no temporary file left');
    // The default path runs no command, so this host's habit never touches the copy.
    const plain = await $.fleet(one).upload(src, dest);
    assert.equal(plain.counts.ok, 1, plain.toText());
    assert.ok((await readFile(dest)).equals(await readFile(src)));
  });
});
