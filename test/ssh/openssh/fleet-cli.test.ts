// The fleet engine and the CLI over the OpenSSH transport, against real sshd: a run's report (every
// host once, failures by kind), a timeout and Ctrl-C that kill the remote commands (pgrep on the
// hosts, which run on this machine), `--transport openssh` on run, script, rolling, ping and a dry
// run, and no master left once the CLI has exited. (copy and pull over it: test/cli/openssh-copy.test.ts.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { $ } from '../../../src/index.js';
import { sshConnect } from '../../../src/fleet/connect.js';
import type { SshFunction } from '../../../src/ssh/shell.js';
import { sshdAvailable, startFleet, type TestFleet } from '../../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch, waitFor } from '../../cli/helpers.js';
import { sshFor } from '../helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

function pids(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** A sleep whose argument list is unique to this call: pgrep finds this test's processes only. */
const uniqueSleep = (n: number) => `sleep ${n}.${process.pid}${Math.floor(Math.random() * 1e6)}`;

describe('fleets over the OpenSSH transport', { skip }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  /** The CLI's masters name the harness's ssh_config in their command line (ssh -F). */
  const masters = () => pids(`ssh .*-F ${fleet.sshConfigPath}.*ControlPersist`);
  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3, faults: ['dead-port', 'refuses-key'] });
    ssh = sshFor(fleet);
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
    tmp.cleanup();
  });
  const targets = (names: string[]) =>
    names.map((host) => ({ host, sshConfig: fleet.sshConfigPath, transport: 'openssh' as const }));

  test('a fleet run: every host once, its output, failures by kind; a timeout kills the commands on the hosts', async () => {
    const names = fleet.hosts.map((h) => h.name);
    const report = await $.fleet(targets(names), { connect: sshConnect(ssh), concurrency: 4 })
      .run`echo "on $(echo $SSH_CONNECTION | cut -d' ' -f3)"`;
    assert.deepEqual(
      report.hosts.map((h) => h.host),
      names,
    );
    assert.equal(report.counts.ok, 3, report.toText());
    for (const h of fleet.healthy)
      assert.equal(report.hosts.find((r) => r.host === h.name)!.stdout, `on ${h.address}\n`);
    const kind = (name: string) => report.hosts.find((h) => h.host === name)!;
    assert.equal(kind('h-dead-port').status, 'unreachable');
    assert.equal(kind('h-dead-port').kind, 'refused');
    assert.equal(kind('h-refuses-key').kind, 'auth');

    const sleep = uniqueSleep(771);
    const timed = await $.fleet(targets(fleet.healthy.map((h) => h.name)), {
      connect: sshConnect(ssh),
      timeout: '1s',
    }).run`${$.raw(sleep)} & ${$.raw(sleep)}`;
    assert.deepEqual(
      timed.hosts.map((h) => h.kind),
      ['timeout', 'timeout', 'timeout'],
      timed.toText(),
    );
    await waitFor(() => pids(sleep).length === 0, 10_000, 'the remote sleeps to be gone');
    await ssh.close();
    assert.deepEqual(masters(), [], 'close() stopped the masters');
  });

  test('fleetsh run --transport openssh: output by host, exit 0, no master left after it exits', async () => {
    const r = await fleetsh(
      ['run', '-F', fleet.sshConfigPath, '-w', 'h[01-03]', '--transport', 'openssh', '--', 'echo hello'],
      { env, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    for (const h of ['h01', 'h02', 'h03']) assert.match(r.stdout, new RegExp(`^${h}: hello$`, 'm'));
    assert.deepEqual(masters(), [], 'the CLI stopped its masters');
  });

  test('fleetsh run --transport openssh -t 1s: the commands are killed on the hosts', async () => {
    const sleep = uniqueSleep(772);
    const r = await fleetsh(
      [
        'run',
        '-F',
        fleet.sshConfigPath,
        '-w',
        'h[01-03]',
        '--transport',
        'openssh',
        '-t',
        '1s',
        '--',
        `${sleep}; echo never`,
      ],
      { env, timeoutMs: 60_000 },
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /timeout/);
    assert.doesNotMatch(r.stdout, /never/);
    await waitFor(() => pids(sleep).length === 0, 10_000, 'the remote sleeps to be gone');
    assert.deepEqual(masters(), []);
  });

  for (const signal of ['SIGINT', 'SIGHUP'] as const)
    test(`${signal === 'SIGINT' ? 'Ctrl-C' : 'the terminal closed'}: the first ${signal} kills the remote commands (the ssh processes are not in its process group)`, async () => {
      const sleep = uniqueSleep(773);
      let sent = false;
      const r = await fleetsh(
        [
          'run',
          '-F',
          fleet.sshConfigPath,
          '-w',
          'h[01-03]',
          '--transport',
          'openssh',
          '--',
          `echo started; ${sleep}`,
        ],
        {
          env,
          timeoutMs: 60_000,
          onSpawn: (child) => {
            void waitFor(() => pids(sleep).length >= 3, 30_000, 'three remote sleeps').then(() => {
              sent = child.kill(signal);
            });
          },
        },
      );
      assert.ok(sent, 'SIGINT was sent');
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stdout, /^failed \(cancelled\): .* \(3\)$/m);
      await waitFor(() => pids(sleep).length === 0, 10_000, 'the remote sleeps to be gone');
      assert.deepEqual(masters(), []);
    });

  test('fleetsh script and rolling --transport openssh: a local script over stdin, batches with a health check', async () => {
    const script = `${tmp.dir}/check.sh`;
    writeFileSync(script, '#!/bin/sh\necho "script $1 on $(echo $SSH_CONNECTION | cut -d" " -f3)"\n');
    const r = await fleetsh(
      ['script', '-F', fleet.sshConfigPath, '-w', 'h[01-02]', '--transport', 'openssh', script, 'arg'],
      { env, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    for (const h of fleet.healthy.slice(0, 2))
      assert.match(r.stdout, new RegExp(`^${h.name}: script arg on ${h.address}$`, 'm'));
    const roll = await fleetsh(
      [
        'rolling',
        '-F',
        fleet.sshConfigPath,
        '-w',
        'h[01-03]',
        '--transport',
        'openssh',
        '--batches',
        '1,100%',
        '--health',
        'true',
        '--',
        'echo deployed',
      ],
      { env, timeoutMs: 60_000 },
    );
    assert.equal(roll.code, 0, roll.stdout + roll.stderr);
    assert.match(roll.stdout, /deployed/);
    assert.deepEqual(masters(), []);
  });

  test('a dry run says the transport; ping logs in through it; a --transport that is neither is refused', async () => {
    const dry = await fleetsh(
      ['run', '--dry-run', '-F', fleet.sshConfigPath, '-w', 'h01', '--transport', 'openssh', '--', 'true'],
      { env, timeoutMs: 60_000 },
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /transport\s+openssh: the system ssh/);
    const ping = await fleetsh(
      ['ping', '-F', fleet.sshConfigPath, '-w', 'h[01-02]', '--transport', 'openssh'],
      { env, timeoutMs: 60_000 },
    );
    assert.equal(ping.code, 0, ping.stderr);
    assert.match(ping.stdout, /^h01 .* checked by ssh$/m);
    const bad = await fleetsh(['run', '-w', 'h01', '--transport', 'putty', '--', 'true'], { env });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--transport.*putty.*ssh2, openssh/);
  });
});
