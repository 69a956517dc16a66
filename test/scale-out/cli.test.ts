// Scale-out through the CLI, against a real nats-server, `fleetsh worker` processes and real
// OpenSSH hosts: `fleetsh run --nats` prints what a run without it prints; a coordinator killed with
// SIGKILL mid-run is resumed (`fleetsh resume`) with every host run once; `copy --nats` prints what a
// direct copy prints and refuses a directory or a file over the limit; pull refuses --nats; a
// URL with credentials in it is refused, and so is a dry run; a worker that cannot reach NATS says so.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { natsAvailable, startNats, type TestNats } from '../harness/nats.js';
import { settlesWithin } from '../harness/settle.js';
import { CLI, ensureBuilt, fleetsh, scratch, waitFor } from '../cli/helpers.js';

const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') || (!natsAvailable() && 'nats-server not installed');

describe('fleetsh --nats and fleetsh worker', { skip }, () => {
  let tf: TestFleet;
  let nats: TestNats;
  const tmp = scratch();
  const children = new Set<ChildProcess>();
  let script: string;

  before(async () => {
    ensureBuilt();
    [tf, nats] = await Promise.all([startFleet({ healthy: 8 }), startNats()]);
    // Appends a line to DIR/<address> on each run, then sleeps $2.
    script = join(tmp.dir, 'count.sh');
    writeFileSync(
      script,
      '#!/bin/sh\naddr=$(echo "$SSH_CONNECTION" | cut -d" " -f3)\necho run >> "$1/$addr"\nsleep "$2"\necho "done"\n',
    );
    chmodSync(script, 0o755);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all([tf?.stop(), nats?.stop()]);
    tmp.cleanup();
  });

  async function worker(zone = 'default'): Promise<ChildProcess> {
    const child = spawn(
      process.execPath,
      [CLI, 'worker', '--nats', nats.url, '--zone', zone, '--concurrency', '4', '--heartbeat', '500ms'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.add(child);
    child.once('exit', () => children.delete(child));
    let err = '';
    await settlesWithin(
      new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (/ ready: zone /.test(err)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`fleetsh worker exited (${code}): ${err}`)));
      }),
      60_000,
      'fleetsh worker start',
    );
    return child;
  }

  async function stopWorker(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await settlesWithin(exited, 30_000, 'the worker stopping on SIGTERM');
  }

  function counts(dir: string): number[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').length);
  }

  test('fleetsh run --nats prints the report a run without it prints, with the same exit status', async () => {
    const w = await worker();
    try {
      const args = ['run', '-F', tf.sshConfigPath, '-w', 'h[01-06]', '--no-journal', '--gather', '--'];
      const command = ['echo same; test "$(echo "$SSH_CONNECTION" | cut -d" " -f3 | cut -d. -f4)" != 3'];
      const through = await fleetsh([...args.slice(0, -1), '--nats', nats.url, '--', ...command], {
        timeoutMs: 90_000,
      });
      const direct = await fleetsh([...args, ...command], { timeoutMs: 90_000 });
      const noTimes = (s: string) => s.replace(/ in [\d.]+ m?s.*$/gm, '');
      assert.equal(through.code, 1, through.stderr);
      assert.equal(through.code, direct.code);
      assert.equal(noTimes(through.stdout), noTimes(direct.stdout));
      assert.match(through.stdout, /5 ok, 1 failed/);
    } finally {
      await stopWorker(w);
    }
  });

  test('fleetsh script --nats: a local script goes to the workers as its input and runs on every host', async () => {
    const w = await worker();
    try {
      const local = join(tmp.dir, 'hello.sh');
      writeFileSync(local, '#!/bin/sh\necho "hello from $(id -un) with $1"\n');
      const r = await fleetsh(
        [
          'script',
          '-F',
          tf.sshConfigPath,
          '-w',
          'h[01-03]',
          '--no-journal',
          '--gather',
          '--nats',
          nats.url,
          local,
          'arg1',
        ],
        { timeoutMs: 90_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`hello from ${tf.user} with arg1`));
      assert.match(r.stdout, /3 ok/);
    } finally {
      await stopWorker(w);
    }
  });

  test('a coordinator killed with SIGKILL mid-run is resumed: every host runs once (the interrupted ones skipped)', async () => {
    const w = await worker();
    const dir = join(tmp.dir, 'resume');
    mkdirSync(dir);
    const journal = join(tmp.dir, 'journal.db');
    try {
      let child: ChildProcess | undefined;
      const running = fleetsh(
        [
          'run',
          '-F',
          tf.sshConfigPath,
          '-w',
          'h[01-08]',
          '-f',
          '4',
          '--nats',
          nats.url,
          '--',
          script,
          dir,
          '3',
        ],
        { env: { FLEETSH_JOURNAL: journal }, onSpawn: (c) => (child = c), timeoutMs: 90_000 },
      );
      await waitFor(() => counts(dir).length >= 4, 60_000, 'four hosts running');
      child!.kill('SIGKILL');
      assert.equal((await running).signal, 'SIGKILL');
      const resumed = await fleetsh(['resume', 'last', '--skip-interrupted'], {
        env: { FLEETSH_JOURNAL: journal },
        timeoutMs: 90_000,
      });
      assert.match(resumed.stderr, /resuming run 1 .*: h\[05-08\] left to run/, resumed.stderr);
      const c = counts(dir);
      assert.equal(c.length, 8, `every host ran: ${resumed.stdout}${resumed.stderr}`);
      assert.ok(
        c.every((n) => n === 1),
        `none twice: ${c}`,
      );
      const shown = await fleetsh(['show', '1'], { env: { FLEETSH_JOURNAL: journal } });
      assert.match(shown.stdout, /h\[05-08\]/);
    } finally {
      await stopWorker(w);
    }
  });

  test('fleetsh copy --nats: the file through a worker, the report a direct copy prints; a directory or a file over 64 MiB is refused', async () => {
    const w = await worker();
    try {
      const src = join(tmp.dir, 'app.conf');
      const bytes = randomBytes(300 * 1024 + 7); // two NATS messages
      writeFileSync(src, bytes);
      const dest = join(tmp.dir, 'copied', 'etc', 'app.conf');
      const args = [
        'copy',
        '-F',
        tf.sshConfigPath,
        '-w',
        'h[01-04]',
        '--no-journal',
        '--mode',
        '0640',
        '--verify',
      ];
      const through = await fleetsh([...args, '--nats', nats.url, src, dest], { timeoutMs: 90_000 });
      assert.equal(through.code, 0, through.stderr);
      // The hosts share this machine's disk: the copy is there, with its bytes and mode.
      assert.ok(readFileSync(dest).equals(bytes));
      assert.equal(statSync(dest).mode & 0o7777, 0o640);
      rmSync(join(tmp.dir, 'copied'), { recursive: true });
      const direct = await fleetsh([...args, src, dest], { timeoutMs: 90_000 });
      assert.equal(direct.code, 0, direct.stderr);
      const noTimes = (s: string) => s.replace(/ in [\d.]+ m?s.*$/gm, '');
      assert.equal(noTimes(through.stdout), noTimes(direct.stdout));
      assert.match(through.stdout, /4 ok/);

      const dir = await fleetsh(['copy', '-w', 'h01', '--nats', nats.url, tmp.dir, '/tmp/x']);
      assert.equal(dir.code, 64);
      assert.match(dir.stderr, /is a directory: with --nats a copy is one file/);
      const big = join(tmp.dir, 'big.img');
      writeFileSync(big, '');
      truncateSync(big, 64 * 1024 * 1024 + 1); // sparse
      const tooBig = await fleetsh(['copy', '-w', 'h01', '--nats', nats.url, big, '/tmp/x']);
      assert.equal(tooBig.code, 64);
      assert.match(
        tooBig.stderr,
        /copy: .*big\.img is 67108865 bytes, over the 64 MiB a copy through fleetsh workers carries/,
      );
    } finally {
      await stopWorker(w);
    }
  });

  test('pull refuses --nats; a URL holding credentials is refused; a worker without NATS says so', async () => {
    const pull = await fleetsh(['pull', '-w', 'h01', '--nats', nats.url, '/etc/hostname', tmp.dir]);
    assert.equal(pull.code, 64);
    assert.match(
      pull.stderr,
      /pull: --nats runs commands .* and copies files to hosts \(copy\): files do not come back/,
    );
    const secret = await fleetsh([
      'run',
      '-w',
      'h01',
      '--nats',
      'nats://me:hunter2@127.0.0.1:1',
      '--',
      'true',
    ]);
    assert.equal(secret.code, 64);
    assert.match(secret.stderr, /--nats: the URL holds credentials/);
    assert.doesNotMatch(secret.stderr, /hunter2/);
    const dry = await fleetsh(['run', '-w', 'h01', '--nats', nats.url, '--dry-run', '--', 'true']);
    assert.equal(dry.code, 64);
    assert.match(dry.stderr, /--dry-run with --nats: a dry run inspects hosts from this machine/);
    const noCreds = await fleetsh([
      'run',
      '-w',
      'h01',
      '--nats',
      nats.url,
      '--nats-creds',
      '/nonexistent/x.creds',
      '--',
      'true',
    ]);
    assert.equal(noCreds.code, 64);
    assert.match(noCreds.stderr, /NATS credentials file \/nonexistent\/x.creds: /);
    const lonely = await fleetsh(['worker', '--nats', 'nats://127.0.0.1:1']);
    assert.equal(lonely.code, 2);
    assert.match(lonely.stderr, /fleetsh worker: cannot connect to the NATS server nats:\/\/127.0.0.1:1/);
  });
});
