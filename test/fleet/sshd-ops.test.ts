// Fleet operations against real OpenSSH servers from the harness (all hosts share this machine's
// file system, so per-host files live under hosts/<name>/): config sync with restore, atomic
// upload, download, health checks, a rolling deployment stopped at its budget, and the deadline and
// cancel paths killing remote commands.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $ } from '../../src/index.js';
import { sha256File } from '../../src/fleet/files.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { settlesWithin } from '../harness/settle.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
let tf: TestFleet;
let names: string[];
let targets: { host: string; sshConfig: string }[];
const dirOf = (host: string) => join(tf.dir, 'hosts', host);

before(async () => {
  if (skip) return;
  tf = await startFleet({ healthy: 8 });
  names = tf.healthy.map((h) => h.name);
  targets = names.map((host) => ({ host, sshConfig: tf.sshConfigPath }));
  for (const h of names) await mkdir(dirOf(h), { recursive: true });
});
after(async () => {
  await $.close();
  await tf?.stop();
});

function remoteProcesses(marker: string): string {
  try {
    return execFileSync('pgrep', ['-af', marker], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

describe('fleet operations against real sshd', { skip }, () => {
  test('config sync restores the backup on the host whose validation fails and reloads the others', async () => {
    const local = join(tf.dir, 'nginx.conf.new');
    await writeFile(local, 'worker_processes 4;\n');
    for (const h of names) await writeFile(join(dirOf(h), 'nginx.conf'), 'worker_processes 1;\n');
    await writeFile(join(dirOf(names[2]!), 'broken'), '');
    const report = await $.fleet(targets, { concurrency: 4 }).syncConfig({
      files: { local, remote: (host) => join(dirOf(host), 'nginx.conf') },
      validate: (sh, ctx) => sh`test ! -e ${join(dirOf(ctx.host), 'broken')}`,
      reload: (sh, ctx) => sh`touch ${join(dirOf(ctx.host), 'reloaded')}`,
    });
    assert.equal(report.counts.ok, 7, report.toText());
    const bad = report.hosts[2]!;
    assert.equal(bad.status, 'failed');
    assert.match(bad.error!, /validation failed, previous files restored/);
    assert.equal(bad.value!.files[0]!.status, 'restored');
    assert.equal(await readFile(join(dirOf(names[2]!), 'nginx.conf'), 'utf8'), 'worker_processes 1;\n');
    assert.deepEqual((await readdir(dirOf(names[2]!))).sort(), ['broken', 'nginx.conf']);
    for (const h of names.filter((_, i) => i !== 2)) {
      assert.equal(await readFile(join(dirOf(h), 'nginx.conf'), 'utf8'), 'worker_processes 4;\n');
      assert.equal(
        await readFile(join(dirOf(h), 'nginx.conf.fleetsh-backup'), 'utf8'),
        'worker_processes 1;\n',
      );
      assert.deepEqual((await readdir(dirOf(h))).sort(), [
        'nginx.conf',
        'nginx.conf.fleetsh-backup',
        'reloaded',
      ]);
    }
  });

  test('upload is atomic even when every host writes the same file at once; download gathers per host', async () => {
    const big = join(tf.dir, 'payload.bin');
    await writeFile(big, Buffer.alloc(2 * 1024 * 1024, 7));
    const shared = join(tf.dir, 'shared');
    await mkdir(shared, { recursive: true });
    const up = await $.fleet(targets).upload(big, join(shared, 'payload.bin'));
    assert.equal(up.counts.ok, 8, up.toText());
    assert.ok(up.hosts.every((h) => !h.value!.files[0]!.verified && h.value!.bytes === 2 * 1024 * 1024));
    assert.deepEqual(await readdir(shared), ['payload.bin'], 'no temporary file left');
    assert.ok((await readFile(join(shared, 'payload.bin'))).equals(await readFile(big)));

    const out = join(tf.dir, 'gathered');
    const down = await $.fleet(targets).download(join(shared, 'payload.bin'), out);
    assert.equal(down.counts.ok, 8, down.toText());
    assert.deepEqual((await readdir(out)).sort(), [...names].sort());
  });

  test('download of a directory: every file checked against the SHA-256 the host computed, into dir/<host>/<name>/', async () => {
    const tree = join(tf.dir, 'conf');
    await mkdir(join(tree, 'sites'), { recursive: true });
    await writeFile(join(tree, 'main.conf'), 'main\n');
    await writeFile(join(tree, 'sites', 'a.conf'), 'server a\n');
    await symlink(join(tree, 'main.conf'), join(tree, 'link-in'));
    await symlink(join(tree, 'sites'), join(tree, 'link-dir'));
    const two = names.slice(0, 2);
    const out = join(tf.dir, 'pulled');
    const report = await $.fleet(two.map((host) => ({ host, sshConfig: tf.sshConfigPath }))).download(
      tree,
      out,
    );
    assert.equal(report.counts.ok, 2, report.toText());
    for (const [i, h] of two.entries()) {
      assert.equal(await readFile(join(out, h, 'conf', 'sites', 'a.conf'), 'utf8'), 'server a\n');
      const v = report.hosts[i]!.value!;
      assert.deepEqual(
        v.files.map((f) => [f.remote, f.verified]),
        [
          [join(tree, 'link-in'), true],
          [join(tree, 'main.conf'), true],
          [join(tree, 'sites/a.conf'), true],
        ],
      );
      for (const f of v.files) assert.equal(f.sha256, await sha256File(f.local));
      assert.deepEqual(v.skipped, [
        { path: join(tree, 'link-dir'), reason: 'a symbolic link to a folder (not followed)' },
      ]);
    }
  });

  test('download of a directory refuses each unsafe entry on a line of its own, naming the entry and the host', async () => {
    const tree = join(tf.dir, 'awkward');
    await mkdir(tree, { recursive: true });
    await writeFile(join(tree, 'fine.txt'), 'fine\n');
    await writeFile(join(tree, 'esc\x1b]0;PWNED\x07'), 'x\n');
    await symlink('/etc/hostname', join(tree, 'link-out'));
    const h = names[2]!;
    const out = join(tf.dir, 'pulled-awkward');
    const report = await $.fleet([{ host: h, sshConfig: tf.sshConfigPath }]).download(tree, out);
    const r = report.hosts[0]!;
    assert.equal(r.status, 'failed');
    const lines = r.error!.split('\n');
    assert.equal(
      lines[0],
      `${h}: download of ${tree}: 2 entries were refused; the rest was copied and checked`,
    );
    assert.deepEqual(lines.slice(1).sort(), [
      `${h}: "${tree}/esc\\u001b]0;PWNED\\u0007" refused: unsafe as a local file name: a control character in the name`,
      `${h}: "${tree}/link-out" refused: a symbolic link out of the tree (to /etc/hostname)`,
    ]);
    assert.deepEqual(await readdir(join(out, h, 'awkward')), ['fine.txt']);
    assert.deepEqual(
      r.value!.files.map((f) => [f.remote, f.verified]),
      [[join(tree, 'fine.txt'), true]],
    );
    assert.equal(r.value!.rejected!.length, 2);
  });

  test('upload makes missing folders and sets the mode, verified or not, leaving no temporary file', async () => {
    const src = join(tf.dir, 'app.conf');
    await writeFile(src, 'listen 8080\n', { mode: 0o600 });
    for (const verify of [true, false]) {
      for (const h of names.slice(0, 2)) {
        // Each host writes into its own folder, which does not exist yet.
        const folder = join(dirOf(h), `nested-${verify}`, 'a', 'b');
        const up = await $.fleet([{ host: h, sshConfig: tf.sshConfigPath }]).upload(
          src,
          join(folder, 'app.conf'),
          {
            mode: 0o640,
            verify,
          },
        );
        assert.equal(up.counts.ok, 1, up.toText());
        assert.equal(up.hosts[0]!.value!.files[0]!.verified, verify);
        assert.equal((await stat(join(folder, 'app.conf'))).mode & 0o777, 0o640);
        assert.equal(await readFile(join(folder, 'app.conf'), 'utf8'), 'listen 8080\n');
        assert.deepEqual(await readdir(folder), ['app.conf'], 'no temporary file left');
      }
    }
  });

  test("one rule for modes: fleet.upload and $.ssh's uploads keep a file's set-user-ID and sticky bits", async () => {
    const src = join(tf.dir, 'modes');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'setuid-tool'), '#!/bin/sh\n');
    await writeFile(join(src, 'sub', 'sticky'), 'x\n');
    await chmod(join(src, 'setuid-tool'), 0o4755);
    await chmod(join(src, 'sub', 'sticky'), 0o1644);
    const h = names[3]!;
    const up = await $.fleet([{ host: h, sshConfig: tf.sshConfigPath }]).upload(
      src,
      join(dirOf(h), 'by-fleet'),
    );
    assert.equal(up.counts.ok, 1, up.toText());
    const s = $.ssh({ host: h, sshConfig: tf.sshConfigPath });
    await s.uploadDirectory(src, join(dirOf(h), 'by-ssh'));
    await s.uploadFile(join(src, 'setuid-tool'), join(dirOf(h), 'one-file'));
    for (const dir of ['by-fleet', 'by-ssh']) {
      assert.equal((await stat(join(dirOf(h), dir, 'setuid-tool'))).mode & 0o7777, 0o4755, dir);
      assert.equal((await stat(join(dirOf(h), dir, 'sub', 'sticky'))).mode & 0o7777, 0o1644, dir);
    }
    assert.equal((await stat(join(dirOf(h), 'one-file'))).mode & 0o7777, 0o4755);
  });

  test('an upload whose host times out mid-transfer leaves no temporary file on the host', async () => {
    const src = join(tf.dir, 'big.bin');
    await writeFile(src, Buffer.alloc(100 * 1024 * 1024, 1));
    const folder = join(dirOf(names[2]!), 'timed-out');
    await mkdir(folder);
    // 100 MiB takes about 1 s over loopback here: a 300 ms timeout lands while the data is in flight.
    const up = await $.fleet([{ host: names[2]!, sshConfig: tf.sshConfigPath }], { timeout: '300ms' }).upload(
      src,
      join(folder, 'big.bin'),
    );
    assert.equal(up.hosts[0]!.status, 'timeout', up.toText());
    assert.deepEqual(await readdir(folder), [], 'neither the file nor its temporary file');
  });

  test('health checks: named, concurrent on one connection, typed per host', async () => {
    const report = await $.fleet(targets).health({
      shell: 'echo $0',
      load: {
        command: "cut -d' ' -f1 /proc/loadavg",
        parse: (r) => Number(r.stdout),
        ok: (v: number) => v >= 0,
      },
      disk: {
        command: "df -P / | tail -1 | awk '{print $5}' | tr -d %",
        parse: (r) => parseInt(r.stdout, 10),
      },
      user: async (sh) => (await sh`id -un`).stdout.trim(),
    });
    assert.equal(report.counts.ok, 8, report.toText());
    const v = report.hosts[0]!.value!;
    assert.equal(typeof v.checks.load.value, 'number');
    assert.equal(v.checks.user.value, tf.user);
  });

  test('a rolling deployment stops at its budget; later batches and phases never run', async () => {
    const log = join(tf.dir, 'rolling.log');
    const deploy = `echo "$(echo $SSH_CONNECTION | cut -d' ' -f3)" >> ${log}`;
    const unhealthy = names[3]!;
    const report = await $.rolling({
      phases: [
        { name: 'database', targets: targets.slice(0, 1), command: deploy },
        { name: 'web', targets: targets.slice(1), command: deploy, batches: [1, '25%', '100%'] },
        {
          name: 'late',
          targets: targets.slice(0, 2).map((t) => ({ ...t, name: `${t.host}-late` })),
          command: deploy,
        },
      ],
      healthCheck: (sh, ctx) => (ctx.host === unhealthy ? sh`exit 1` : sh`true`),
      maxFailures: 0,
    });
    // web has 7 hosts: batches of 1, 1 (25% of 7), then 5; the unhealthy host is in batch 3
    assert.deepEqual(
      report.phases.map((p) => p.status),
      ['done', 'stopped', 'not-started'],
    );
    assert.deepEqual(report.failed, [unhealthy]);
    assert.equal(report.done.length, 7);
    assert.equal(report.notDone.length, 2);
    const ran = (await readFile(log, 'utf8')).trim().split('\n');
    assert.equal(ran.length, 8, 'database 1 + web 7; the late phase never ran');
    assert.match(report.stopped!, /maxFailures 0 exceeded \(1 failed\) in phase web, batch 3/);
  });

  test('a rolling deployment cancelled mid-batch: its commands are gone from the hosts, later batches never start', async () => {
    const marker = `fleetsh-rolling-cancel-${process.pid}`;
    const run = $.rolling({
      phases: [
        {
          name: 'web',
          targets: targets.slice(0, 6),
          command: `echo started; sleep 60; : ${marker}`,
          batches: 2,
        },
      ],
      maxFailures: '100%',
    });
    let started = 0;
    run.on('server:output', () => ++started === 2 && void run.cancel('operator stop'));
    const report = await settlesWithin(run, 30_000, 'a rolling deployment cancelled mid-batch');
    assert.equal(report.stopped, 'operator stop');
    const hosts = report.phases[0]!.report.hosts;
    assert.deepEqual(
      hosts.map((h) => [h.host, h.status, h.kind]),
      names.slice(0, 6).map((n, i) => [n, i < 2 ? 'failed' : 'skipped', 'cancelled']),
    );
    assert.deepEqual(report.notDone, names.slice(2, 6));
    assert.match(hosts[2]!.reason!, /not started: operator stop/);
    for (let i = 0; i < 100 && remoteProcesses(marker) !== ''; i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(remoteProcesses(marker), '', 'no remote command left running after the cancel');
  });

  test('the deadline and cancel kill remote commands and report every host once', async () => {
    const marker = `fleetsh-deadline-${process.pid}`;
    const r1 = await $.fleet(targets, { concurrency: 4, deadline: 2500 }).run`sleep 60; echo ${marker}`;
    assert.deepEqual(
      r1.hosts.map((h) => h.host),
      names,
    );
    assert.equal(r1.counts.timeout + r1.counts.skipped, 8);
    assert.equal(r1.counts.timeout, 4, r1.toText());
    assert.match(r1.byStatus('timeout')[0]!.reason!, /deadline/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(remoteProcesses(marker), '', 'no remote command left running after the deadline');

    const marker2 = `fleetsh-cancel-${process.pid}`;
    const run = $.fleet(targets, { concurrency: 3 }).run`echo started; sleep 60; echo ${marker2}`;
    let started = 0;
    run.on('server:output', () => ++started === 3 && void run.cancel('stop'));
    const r2 = await run;
    assert.deepEqual(
      r2.hosts.map((h) => h.host),
      names,
    );
    assert.equal(r2.hosts.filter((h) => h.kind === 'cancelled' && h.status === 'failed').length, 3);
    assert.equal(r2.counts.skipped, 5);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(remoteProcesses(marker2), '', 'no remote command left running after cancel');
  });
});
