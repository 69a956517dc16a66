// `fleetsh rolling` and `fleetsh copy` against real OpenSSH servers. The harness's hosts share this
// machine's file system, so copies go to a folder of this test and each host tells itself apart
// by the address it was reached on ($SSH_CONNECTION). A hostile host's output is shown escaped.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HostSet } from '../../src/inventory/hostset.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, HOSTILE, HOSTILE_BYTES, HOSTILE_SHOWN, scratch } from './helpers.js';

describe('fleetsh rolling and copy', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  let conn: string[];
  const failOn = (name: string) =>
    `case " $SSH_CONNECTION " in *" ${fleet.host(name).address} "*) echo unhealthy >&2; exit 1;; esac`;

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 6 });
    conn = ['-F', fleet.sshConfigPath];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('rolling: batches 1,2 stop at the first unhealthy host; later hosts are not started; exit 1', async () => {
    const log = join(tmp.dir, 'deployed.log');
    const deploy = `echo "$SSH_CONNECTION" >> ${log}; echo deployed`;
    const r = await fleetsh(
      ['rolling', ...conn, '-w', 'h[01-06]', '--batches', '1,2', '--health', failOn('h04'), '--', deploy],
      { env },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^== batch 1: h01$/m);
    assert.match(r.stdout, /^== batch 2: h\[02-03\]$/m);
    assert.match(r.stdout, /^== batch 3: h\[04-05\]$/m);
    assert.doesNotMatch(r.stdout, /^== batch 4/m);
    assert.match(r.stdout, /^failed: h04 \(1\)$/m);
    assert.match(r.stdout, /h04: health check failed/);
    assert.match(r.stdout, /^skipped \(budget\): h06 \(1\)$/m);
    assert.match(r.stdout, /deployment stopped: 4 deployed, 1 failed, 1 not started/);
    assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 5, 'h06 never ran the command');
    const failed = await fleetsh(['hosts', '-w', '@failed,@skipped', '--fold'], { env });
    assert.equal(failed.stdout, 'h[04,06]\n');
  });

  test("rolling: a hostile host's output and health check message are shown escaped; --raw prints them as they came", async () => {
    const health = `case " $SSH_CONNECTION " in *" ${fleet.host('h02').address} "*) ${HOSTILE} >&2; exit 1;; esac`;
    const args = ['rolling', ...conn, '-w', 'h[01-02]', '--batches', '1', '--health', health];
    const r = await fleetsh([...args, '--', HOSTILE], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    assert.ok(r.stdout.includes(`h01: ${HOSTILE_SHOWN}\n`), r.stdout);
    assert.ok(r.stdout.includes(`\n    ${HOSTILE_SHOWN}\n`), 'the health check stderr in the failure list');
    const raw = await fleetsh([...args, '--raw', '--', HOSTILE], { env });
    assert.equal(raw.code, 1, raw.stderr);
    assert.ok(raw.stdout.includes(`h01: ${HOSTILE_BYTES}`), JSON.stringify(raw.stdout));
  });

  test('rolling: --max-failures 1 lets the deployment go on; --json has the phases', async () => {
    const r = await fleetsh(
      [
        'rolling',
        ...conn,
        '-w',
        'h[01-06]',
        '--batches',
        '2',
        '--health',
        failOn('h04'),
        '--max-failures',
        '1',
        '--json',
        '--',
        'true',
      ],
      { env },
    );
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.stopped, null);
    assert.equal(doc.failed, 'h04');
    assert.deepEqual(
      doc.phases[0].batches.map((b: { hosts: string }) => HostSet.parse(b.hosts).hosts),
      [
        ['h01', 'h02'],
        ['h03', 'h04'],
        ['h05', 'h06'],
      ],
    );
  });

  test('copy: a file to every host with its mode, reported per host; exit 0', async () => {
    const src = join(tmp.dir, 'motd');
    writeFileSync(src, 'welcome\n');
    const dest = join(tmp.dir, 'copied-motd');
    const r = await fleetsh(['copy', ...conn, '-w', 'h[01-03]', '--mode', '0640', src, dest], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^h\[01-03\] \(3\): copied .*copied-motd \(8 bytes, sha256 [0-9a-f]{12}\)$/m);
    assert.equal(readFileSync(dest, 'utf8'), 'welcome\n');
    assert.equal(statSync(dest).mode & 0o777, 0o640);
    // --verify reads each copy back on its host before it takes its place, and says so.
    const v = await fleetsh(['copy', ...conn, '-w', 'h[01-03]', '--verify', src, dest], { env });
    assert.equal(v.code, 0, v.stderr);
    assert.match(
      v.stdout,
      /^h\[01-03\] \(3\): copied .*copied-motd \(8 bytes, sha256 [0-9a-f]{12}, verified\)$/m,
    );
  });

  test('copy --backup --validate: a file that fails validation is put back, exit 1', async () => {
    const dest = join(tmp.dir, 'app.conf');
    const good = join(tmp.dir, 'good.conf');
    const bad = join(tmp.dir, 'bad.conf');
    writeFileSync(good, 'valid = yes\n');
    writeFileSync(bad, 'valid = no\n');
    const validate = `grep -q 'valid = yes' ${dest}`;
    const first = await fleetsh(
      ['copy', ...conn, '-w', 'h01', '--validate', validate, '--reload', 'true', good, dest],
      { env },
    );
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /^h01 \(1\): .*app\.conf created; validated, reloaded$/m);
    const second = await fleetsh(
      ['copy', ...conn, '-w', 'h01', '--backup', '--validate', validate, bad, dest],
      { env },
    );
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stdout, /^failed: h01 \(1\)$/m);
    assert.match(second.stdout, /validation failed, previous files restored/);
    assert.equal(readFileSync(dest, 'utf8'), 'valid = yes\n');
    const again = await fleetsh(['copy', ...conn, '-w', 'h01', '--backup', good, dest], { env });
    assert.match(again.stdout, /^h01 \(1\): .*app\.conf unchanged$/m);
    // fleetsh's own plumbing (checksums, backups, renames) prints nothing as the hosts' output.
    for (const r of [first, second, again])
      assert.doesNotMatch(r.stdout + r.stderr, /^h01: ([0-9a-f]{64})?$/m, r.stdout + r.stderr);
  });

  test('copy: a missing source is a usage error', async () => {
    const r = await fleetsh(['copy', ...conn, '-w', 'h01', join(tmp.dir, 'nope'), '/tmp/x'], { env });
    assert.equal(r.code, 64);
    assert.match(r.stderr, /no such file/);
  });
});
