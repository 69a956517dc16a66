import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { remoteSha256s, sha256File } from '../../src/fleet/files.js';
import { fakeFleet, makeDirs, type FakeFleet } from './helpers.js';

let f: FakeFleet;
const hosts = ['web1', 'web2', 'web3'];
let src: string;
before(async () => {
  f = await fakeFleet({ dead: { unreachable: { kind: 'refused' } }, bitrot: { corruptUploads: true } });
  await makeDirs(f, [...hosts, 'dead', 'bitrot']);
  src = join(f.root, '_src');
  await mkdir(join(src, 'site/css'), { recursive: true });
  await writeFile(join(src, 'app.conf'), 'listen 80;\n', { mode: 0o640 });
  await writeFile(join(src, 'site/index.html'), '<h1>hi</h1>\n');
  await writeFile(join(src, 'site/css/a.css'), 'body{}\n');
});
after(() => f.cleanup());

describe('fleet files', () => {
  test('upload puts a file on every host atomically, with its checksum and mode, and no temporary left; no read-back by default', async () => {
    const report = await fleet([...hosts, 'dead'], { connect: f.connect }).upload(
      join(src, 'app.conf'),
      'etc/app.conf',
    );
    assert.equal(report.counts.ok, 3);
    assert.equal(report.hosts[3]!.status, 'unreachable');
    const sum = await sha256File(join(src, 'app.conf'));
    for (const h of hosts) {
      assert.equal(await readFile(join(f.dirOf(h), 'etc/app.conf'), 'utf8'), 'listen 80;\n');
      assert.equal((await stat(join(f.dirOf(h), 'etc/app.conf'))).mode & 0o777, 0o640);
      assert.deepEqual(await readdir(join(f.dirOf(h), 'etc')), ['app.conf']);
    }
    const v = report.hosts[0]!.value!;
    assert.deepEqual(
      v.files.map((x) => [x.remote, x.sha256, x.verified, x.bytes]),
      [['etc/app.conf', sum, false, 11]],
    );
    assert.ok(!f.executors.get('web1')!.commands.some((c) => /sha256sum/.test(c)), 'no checksum command ran');
    const checked = await fleet(['web1'], { connect: f.connect }).upload(
      join(src, 'app.conf'),
      'etc/app.conf',
      {
        verify: true,
      },
    );
    assert.equal(checked.hosts[0]!.value!.files[0]!.verified, true);
  });

  test('with verify, a file that arrives corrupted fails its checksum and does not replace the one in place', async () => {
    await mkdir(join(f.dirOf('bitrot'), 'etc'), { recursive: true });
    await writeFile(join(f.dirOf('bitrot'), 'etc/app.conf'), 'the old one\n');
    const report = await fleet(['web1', 'bitrot'], { connect: f.connect }).upload(
      join(src, 'app.conf'),
      'etc/app.conf',
      { verify: true },
    );
    assert.equal(report.counts.ok, 1, report.toText());
    const bad = report.hosts.find((h) => h.host === 'bitrot')!;
    assert.equal(bad.status, 'failed');
    assert.match(bad.error!, /upload of etc\/app\.conf failed its checksum; the file was not replaced/);
    assert.equal(await readFile(join(f.dirOf('bitrot'), 'etc/app.conf'), 'utf8'), 'the old one\n');
    assert.deepEqual(await readdir(join(f.dirOf('bitrot'), 'etc')), ['app.conf'], 'no temporary file left');
  });

  test('upload of a directory puts every file under the remote path, with no command', async () => {
    const ran = f.executors.get('web2')?.commands.length ?? 0;
    const report = await fleet(hosts, { connect: f.connect }).upload(join(src, 'site'), 'www');
    assert.equal(report.counts.ok, 3);
    assert.equal(f.executors.get('web2')!.commands.length, ran, 'no command ran');
    assert.equal(await readFile(join(f.dirOf('web2'), 'www/css/a.css'), 'utf8'), 'body{}\n');
    assert.deepEqual(report.hosts[1]!.value!.files.map((x) => x.remote).sort(), [
      'www/css/a.css',
      'www/index.html',
    ]);
  });

  test('a directory with verify: each file checked; the first that fails stops the host, the files before it kept', async () => {
    const ok = await fleet(['web3'], { connect: f.connect }).upload(join(src, 'site'), 'www-checked', {
      verify: true,
    });
    assert.deepEqual(
      ok.hosts[0]!.value!.files.map((x) => [x.remote, x.verified]),
      [
        ['www-checked/css/a.css', true],
        ['www-checked/index.html', true],
      ],
    );
    const bad = await fleet(['bitrot'], { connect: f.connect }).upload(join(src, 'site'), 'www', {
      verify: true,
    });
    const h = bad.hosts[0]!;
    assert.equal(h.status, 'failed');
    assert.match(h.error!, /upload of www\/css\/a\.css failed its checksum; the file was not replaced/);
    assert.deepEqual(h.value!.files, []);
    assert.deepEqual(await readdir(join(f.dirOf('bitrot'), 'www')), ['css']);
    assert.deepEqual(await readdir(join(f.dirOf('bitrot'), 'www', 'css')), [], 'no temporary file left');
  });

  test('download brings a file from every host into dir/<host>/', async () => {
    for (const h of hosts) await writeFile(join(f.dirOf(h), 'version'), `v-${h}\n`);
    const out = join(f.root, '_dl');
    const report = await fleet(hosts, { connect: f.connect }).download('version', out);
    assert.equal(report.counts.ok, 3);
    assert.equal(await readFile(join(out, 'web3', 'version'), 'utf8'), 'v-web3\n');
    const missing = await fleet(hosts, { connect: f.connect }).download('nope', out);
    assert.equal(missing.counts.failed, 3);
    assert.match(missing.hosts[0]!.error!, /web1: nope does not exist/);
  });

  test('download of a directory brings its tree into dir/<host>/<name>/, every file checked', async () => {
    for (const h of hosts) {
      await mkdir(join(f.dirOf(h), 'logs/app'), { recursive: true });
      await writeFile(join(f.dirOf(h), 'logs/app/today.log'), `${h} today\n`);
      await writeFile(join(f.dirOf(h), 'logs/boot.log'), 'booted\n');
    }
    const out = join(f.root, '_dl-tree');
    const report = await fleet(hosts, { connect: f.connect }).download('logs', out);
    assert.equal(report.counts.ok, 3, report.toText());
    assert.equal(await readFile(join(out, 'web2', 'logs', 'app', 'today.log'), 'utf8'), 'web2 today\n');
    const v = report.hosts[1]!.value!;
    assert.deepEqual(
      v.files.map((x) => [x.remote, x.verified, x.sha256]),
      [
        ['logs/app/today.log', true, await sha256File(join(f.dirOf('web2'), 'logs/app/today.log'))],
        ['logs/boot.log', true, await sha256File(join(f.dirOf('web2'), 'logs/boot.log'))],
      ],
    );
  });

  test("the host's checksums of a tree: every file, past the 64 KiB of names one command takes", async () => {
    const tree = join(f.dirOf('web1'), 'many');
    await mkdir(tree, { recursive: true });
    // 1,200 names of 64 characters: 78 KiB of names, so two commands.
    const rels = Array.from({ length: 1200 }, (_, i) => `${String(i).padStart(4, '0')}-${'x'.repeat(59)}`);
    for (const r of rels) await writeFile(join(tree, r), r);
    const sums = await remoteSha256s(f.connect('web1', {}), 'many', [...rels, 'missing']);
    assert.equal(sums.size, 1200, 'every file, and nothing for the missing one');
    assert.equal(sums.get(rels[1199]!), await sha256File(join(tree, rels[1199]!)));
  });

  test('a directory download whose file arrives corrupted stops there and leaves that file out', async () => {
    const g = await fakeFleet({ rot: { corruptDownloads: 'b.txt' } });
    try {
      await makeDirs(g, ['rot']);
      await mkdir(join(g.dirOf('rot'), 'tree'));
      for (const n of ['a.txt', 'b.txt', 'c.txt']) await writeFile(join(g.dirOf('rot'), 'tree', n), `${n}\n`);
      const out = join(g.root, '_out');
      const report = await fleet(['rot'], { connect: g.connect }).download('tree', out);
      const h = report.hosts[0]!;
      assert.equal(h.status, 'failed');
      assert.match(
        h.error!,
        /^rot: download of tree: tree\/b\.txt failed its checksum: expected SHA-256 [0-9a-f]{64}, got [0-9a-f]{64}; it was not put in place/,
      );
      assert.deepEqual(
        await readdir(join(out, 'rot', 'tree')),
        ['a.txt'],
        'b.txt not in place, no temporary left',
      );
      assert.deepEqual(
        h.value!.files.map((x) => x.remote),
        ['tree/a.txt'],
      );
    } finally {
      await g.cleanup();
    }
  });
});

describe('fleet health checks', () => {
  test('named checks per host with typed values; a failed check fails the host and keeps the table', async () => {
    await writeFile(join(f.dirOf('web2'), 'disk'), '95\n');
    for (const h of ['web1', 'web3']) await writeFile(join(f.dirOf(h), 'disk'), '40\n');
    const report = await fleet(hosts, { connect: f.connect }).health({
      nginx: 'echo active',
      disk: { command: 'cat disk', parse: (r) => parseInt(r.stdout, 10), ok: (v: number) => v < 90 },
      host: async (sh) => (await sh`echo $HOST`).stdout.trim(),
      down: 'exit 3',
    });
    const web1 = report.hosts[0]!.value!;
    assert.equal(web1.checks.nginx.value, 'active');
    assert.equal(web1.checks.disk.value, 40);
    assert.equal(web1.checks.host.value, 'web1');
    assert.equal(web1.checks.down.ok, false);
    assert.match(web1.checks.down.error!, /exited with code 3/);
    assert.equal(report.hosts[1]!.value!.checks.disk.ok, false);
    assert.equal(report.counts.failed, 3);
    assert.match(
      report.hosts[1]!.error!,
      /web2: unhealthy: disk \(the value failed its test\), down \(exited with code 3\)/,
    );
    const healthy = await fleet(['web1', 'web3'], { connect: f.connect }).health({ nginx: 'echo active' });
    assert.equal(healthy.counts.ok, 2);
    assert.equal(healthy.hosts[0]!.value!.ok, true);
  });
});

describe('config sync', () => {
  test('backs up, uploads, validates; restores the backup where validation fails; reloads where it passes', async () => {
    for (const h of hosts) {
      await mkdir(join(f.dirOf(h), 'nginx'), { recursive: true });
      await writeFile(join(f.dirOf(h), 'nginx/nginx.conf'), 'old\n');
    }
    await writeFile(join(f.dirOf('web3'), 'nginx/nginx.conf'), 'new\n'); // already up to date
    await writeFile(join(f.dirOf('web2'), 'broken'), '');
    await writeFile(join(src, 'nginx.conf'), 'new\n');
    await writeFile(join(src, 'extra.conf'), 'extra\n');
    const report = await fleet(hosts, { connect: f.connect }).syncConfig({
      files: [
        { local: join(src, 'nginx.conf'), remote: 'nginx/nginx.conf' },
        { local: join(src, 'extra.conf'), remote: 'nginx/extra.conf' },
      ],
      validate: 'test ! -e broken && grep -q new nginx/nginx.conf',
      reload: 'touch reloaded',
    });
    const [w1, w2, w3] = report.hosts;
    assert.equal(w1!.status, 'ok');
    assert.deepEqual(
      w1!.value!.files.map((x) => x.status),
      ['updated', 'created'],
    );
    assert.equal(await readFile(join(f.dirOf('web1'), 'nginx/nginx.conf'), 'utf8'), 'new\n');
    assert.equal(await readFile(join(f.dirOf('web1'), 'nginx/nginx.conf.fleetsh-backup'), 'utf8'), 'old\n');
    await stat(join(f.dirOf('web1'), 'reloaded'));

    assert.equal(w2!.status, 'failed');
    assert.match(w2!.error!, /web2: validation failed, previous files restored/);
    assert.deepEqual(
      w2!.value!.files.map((x) => x.status),
      ['restored', 'removed'],
    );
    assert.equal(w2!.value!.validated, false);
    assert.equal(await readFile(join(f.dirOf('web2'), 'nginx/nginx.conf'), 'utf8'), 'old\n');
    await assert.rejects(stat(join(f.dirOf('web2'), 'nginx/extra.conf')));
    await assert.rejects(stat(join(f.dirOf('web2'), 'reloaded')));

    assert.equal(w3!.status, 'ok');
    assert.deepEqual(
      w3!.value!.files.map((x) => x.status),
      ['unchanged', 'created'],
    );
    for (const h of hosts) {
      const left = (await readdir(join(f.dirOf(h), 'nginx'))).filter((n) => n.includes('.tmp'));
      assert.deepEqual(left, [], `no temporary file on ${h}`);
    }
  });

  test('config sync with verify reads each new file back: a copy that arrives corrupted is not put in place', async () => {
    await mkdir(join(f.dirOf('bitrot'), 'sync'), { recursive: true });
    await writeFile(join(f.dirOf('bitrot'), 'sync/app.conf'), 'the old one\n');
    const sync = (verify: boolean) =>
      fleet(['bitrot'], { connect: f.connect }).syncConfig({
        files: { local: join(src, 'app.conf'), remote: 'sync/app.conf' },
        verify,
      });
    const checked = (await sync(true)).hosts[0]!;
    assert.equal(checked.status, 'failed');
    assert.match(checked.error!, /config sync failed, previous files restored: .*checksum/);
    assert.equal(await readFile(join(f.dirOf('bitrot'), 'sync/app.conf'), 'utf8'), 'the old one\n');
    // Without verify nothing reads it back: the host's corruption goes in.
    const plain = (await sync(false)).hosts[0]!;
    assert.equal(plain.status, 'ok');
    assert.equal(await readFile(join(f.dirOf('bitrot'), 'sync/app.conf'), 'utf8'), 'listen 80;\nX');
  });
});
