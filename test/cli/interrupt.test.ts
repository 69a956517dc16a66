// Ctrl-C during `fleetsh run` and `fleetsh rolling`: the first SIGINT kills the remote commands in
// flight (they are gone from the hosts), starts nothing more (a pause between batches ends at once)
// and prints the partial report with status 130; a second SIGINT exits at once.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { CLI, ensureBuilt, fleetsh, scratch, waitFor } from './helpers.js';

/** PIDs of processes whose command line holds `marker` (the harness's sshd runs on this machine). */
function pids(marker: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('Ctrl-C', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 5 });
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('the first SIGINT kills the remote commands and prints the partial report', async () => {
    // A unique sleep length marks this test's remote processes.
    const marker = `sleep 777.${process.pid}${Date.now() % 1000}`;
    let sent = false;
    const r = await fleetsh(
      ['run', '-F', fleet.sshConfigPath, '-w', 'h[01-05]', '-f', '3', '--', `echo started; ${marker}`],
      {
        env,
        timeoutMs: 50_000,
        onSpawn: (child) => {
          void waitFor(() => pids(marker).length >= 3, 30_000, 'three remote sleeps').then(() => {
            sent = child.kill('SIGINT');
          });
        },
      },
    );
    assert.ok(sent, 'SIGINT was sent');
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted: starting no more hosts/);
    assert.match(r.stdout, /^failed \(cancelled\): .* \(3\)$/m);
    assert.match(r.stdout, /^skipped \(cancelled\): .* \(2\)$/m);
    assert.match(r.stdout, /^interrupted: 5 hosts: 0 ok, 3 failed, 2 skipped/m);
    await waitFor(() => pids(marker).length === 0, 5000, 'the remote sleeps to be gone');
    const skipped = await fleetsh(['hosts', '-c', '-w', '@skipped'], { env });
    assert.equal(skipped.stdout, '2\n');
  });

  test('rolling: the first SIGINT mid-batch kills the batch on its hosts, starts no other batch, prints the partial report', async () => {
    const marker = `sleep 779.${process.pid}${Date.now() % 1000}`;
    const log = join(tmp.dir, 'rolling-interrupted.log');
    let sent = false;
    const r = await fleetsh(
      [
        'rolling',
        '-F',
        fleet.sshConfigPath,
        '-w',
        'h[01-05]',
        '--batches',
        '2',
        '--',
        `echo "$SSH_CONNECTION" >> ${log}; ${marker}`,
      ],
      {
        env,
        timeoutMs: 50_000,
        onSpawn: (child) => {
          // `^`: the sleeps themselves, not fleetsh, whose own command line holds the marker too.
          void waitFor(() => pids(`^${marker}`).length >= 2, 30_000, 'the first batch running').then(() => {
            sent = child.kill('SIGINT');
          });
        },
      },
    );
    assert.ok(sent, 'SIGINT was sent');
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted: starting no more hosts/);
    assert.match(r.stdout, /^== batch 1: h\[01-02\]$/m);
    assert.doesNotMatch(r.stdout, /^== batch 2/m);
    assert.match(r.stdout, /^batch 1: h\[01-02\]: 0 ok, 2 not ok$/m);
    assert.match(r.stdout, /^failed \(cancelled\): h\[01-02\] \(2\)$/m);
    assert.match(r.stdout, /^skipped \(cancelled\): h\[03-05\] \(3\)$/m);
    assert.match(r.stdout, /^deployment stopped: 0 deployed, 2 failed, 3 not started$/m);
    await waitFor(() => pids(marker).length === 0, 5000, 'the remote sleeps to be gone');
    assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 2, 'only the first batch ran');
    const skipped = await fleetsh(['hosts', '-w', '@skipped', '--fold'], { env });
    assert.equal(skipped.stdout, 'h[03-05]\n');
  });

  test('rolling: a SIGINT during a 30 s pause between batches ends the deployment at once', async () => {
    const log = join(tmp.dir, 'rolling-paused.log');
    let sentAt = 0;
    const r = await fleetsh(
      [
        'rolling',
        '-F',
        fleet.sshConfigPath,
        '-w',
        'h[01-03]',
        '--batches',
        '1',
        '--pause',
        '30s',
        '--',
        `echo "$SSH_CONNECTION" >> ${log}`,
      ],
      {
        env,
        timeoutMs: 50_000,
        onSpawn: (child) => {
          // The first batch's command has run once its line is in the log; a second later (its end
          // reaches fleetsh within ~50 ms here) the pause has begun.
          void waitFor(() => existsSync(log), 30_000, 'the first batch').then(() =>
            setTimeout(() => {
              sentAt = Date.now();
              child.kill('SIGINT');
            }, 1000),
          );
        },
      },
    );
    const ms = Date.now() - sentAt;
    assert.ok(sentAt > 0, 'SIGINT was sent');
    assert.equal(r.code, 130, r.stderr);
    // Measured here: 13-16 ms from SIGINT to exit; 29.5 s while the pause ignored the cancel.
    assert.ok(ms < 5000, `exited ${ms} ms after SIGINT, in a 30 s pause`);
    assert.match(r.stdout, /^batch 1: h01: 1 ok$/m);
    assert.match(r.stdout, /^skipped \(cancelled\): h\[02-03\] \(2\)$/m);
    assert.match(r.stdout, /^deployment stopped: 1 deployed, 0 failed, 2 not started$/m);
    assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'no other batch ran');
  });

  test('a second SIGINT exits at once', async () => {
    const marker = `sleep 778.${process.pid}${Date.now() % 1000}`;
    const t0 = Date.now();
    let second = 0;
    const r = await fleetsh(
      ['run', '-F', fleet.sshConfigPath, '-w', 'h[01-02]', '--', `trap '' TERM; ${marker}`],
      {
        env,
        timeoutMs: 50_000,
        onSpawn: (child) => {
          void waitFor(() => pids(marker).length >= 2, 30_000, 'two remote sleeps').then(() => {
            child.kill('SIGINT');
            setTimeout(() => {
              second = Date.now();
              child.kill('SIGINT');
            }, 200);
          });
        },
      },
    );
    assert.equal(r.code, 130);
    assert.ok(
      second > 0 && Date.now() - second < 2000,
      `exited ${Date.now() - second} ms after the second SIGINT`,
    );
    assert.match(r.stderr, /again: exiting now/);
    assert.ok(Date.now() - t0 < 20_000);
    // The first SIGINT's TERM was trapped and fleetsh did not wait for KILL: clean up by pid.
    for (const pid of pids(marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });

  test('a closed stdout (| head) stops the run as Ctrl-C does: remote commands gone, exit 141, no stack trace', async () => {
    const marker = `sleep 0.0${process.pid}${Date.now() % 1000}`;
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '-F',
        fleet.sshConfigPath,
        '-w',
        'h[01-03]',
        '--',
        `while :; do echo tick; ${marker}; done`,
      ],
      { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Read until every host has printed, then go away like `head` does.
    let seen = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        seen += d.toString();
        if (['h01', 'h02', 'h03'].every((h) => seen.includes(`${h}:`))) resolve();
      });
    });
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 141, stderr);
    assert.doesNotMatch(stderr, /EPIPE|at .*\.c?js:\d+/);
    await waitFor(() => pids(marker).length === 0, 5000, 'the remote loops to be gone');
    const failed = await fleetsh(['hosts', '-c', '-w', '@failed'], { env });
    assert.equal(failed.stdout, '3\n', 'the cut run is recorded, as after Ctrl-C');
  });
});
