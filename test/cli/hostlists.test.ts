// Host lists as people paste them, against real OpenSSH servers: `user@host:port`, `[::1]:port`
// (an sshd of its own on IPv6 loopback), `-x` by host whatever user or port was written, a list
// on stdin with `-w -`, and `@failed` keeping the hosts as they were written.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ephemeralPort, keygen, startSshd, type Sshd } from '../harness/sshd.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

describe('host lists people paste', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  /** Reaching a harness host by address and port, without its ssh_config alias. */
  let direct: string[];
  let v6: { sshd: Sshd; port: number; knownHosts: string } | undefined;

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3 });
    direct = ['-F', '/dev/null', '--identity', fleet.clientKeyPath, '--known-hosts', fleet.knownHostsPath];
    // An sshd of its own on [::1], with a known_hosts line for it.
    const port = await ephemeralPort('::1');
    const hostKeyPath = join(fleet.dir, 'host_ed25519.v6');
    const pub = await keygen(hostKeyPath, 'fleetsh-test-v6');
    const sshd = await startSshd({
      dir: fleet.dir,
      id: 'v6',
      listen: [{ address: '::1', port }],
      hostKeyPath,
      authorizedKeysPath: join(fleet.dir, 'authorized_keys'),
      marker: fleet.dir,
      settings: [],
    });
    const knownHosts = join(fleet.dir, 'known_hosts.v6');
    writeFileSync(knownHosts, `[::1]:${port} ${pub.split(' ').slice(0, 2).join(' ')}\n`);
    v6 = { sshd, port, knownHosts };
  });
  after(async () => {
    if (v6?.sshd.running()) process.kill(v6.sshd.pid, 'SIGTERM');
    await fleet?.stop();
    tmp.cleanup();
  });

  const at = (name: string) => `${fleet.host(name).address}:${fleet.host(name).port}`;

  test('user@host:port reaches the host as that user, named host:port in the report and in FLEETSH_HOST', async () => {
    const target = `${fleet.user}@${at('h01')}`;
    // -l and -p lose to what the entry says itself.
    const r = await fleetsh(
      ['run', ...direct, '-l', 'nobody', '-p', '1', '-w', target, '--', 'echo "$(whoami) $FLEETSH_HOST"'],
      {
        env,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^${at('h01').replace(/\./g, '\\.')}: +${fleet.user} ${at('h01').replace(/\./g, '\\.')}$`,
        'm',
      ),
    );
  });

  test('ranges and ports together; -x by host leaves it out whatever user or port it was written with', async () => {
    const [a, b, c] = fleet.healthy.map((h) => h.address);
    const prefix = a!.split('.').slice(0, 3).join('.');
    const last = (x: string) => x.split('.')[3];
    const expr = `${fleet.user}@${prefix}.[${last(a!)}-${last(c!)}]:${fleet.healthy[0]!.port}`;
    const r = await fleetsh(
      ['run', ...direct, '-w', expr, '-x', b!, '--gather', '--', 'echo "$FLEETSH_HOST"'],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2 hosts: 2 ok/m);
    assert.doesNotMatch(r.stdout, new RegExp(b!.replace(/\./g, '\\.')));
  });

  test('@failed keeps the hosts as they were written, user and port included', async () => {
    const target = `${fleet.user}@${at('h02')}`;
    const r = await fleetsh(['run', ...direct, '-w', target, '--', 'exit 4'], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, new RegExp(`^failed: ${at('h02').replace(/\./g, '\\.')} \\(1\\)$`, 'm'));
    const failed = await fleetsh(['hosts', '-w', '@failed'], { env });
    assert.equal(failed.stdout, `${target}\n`, failed.stderr);
    const again = await fleetsh(['run', ...direct, '-w', '@failed', '--', 'whoami'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`: +${fleet.user}$`, 'm'));
  });

  test('an IPv6 literal in brackets with a port reaches an sshd on [::1]', async () => {
    const target = `${fleet.user}@[::1]:${v6!.port}`;
    const flags = ['-F', '/dev/null', '--identity', fleet.clientKeyPath, '--known-hosts', v6!.knownHosts];
    const r = await fleetsh(
      ['run', ...flags, '-w', target, '--', 'echo "$FLEETSH_HOST"; echo $SSH_CONNECTION'],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^\\[::1\\]:${v6!.port}: +\\[::1\\]:${v6!.port}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^\\[::1\\]:${v6!.port}: +::1 \\d+ ::1 ${v6!.port}$`, 'm'));
  });

  test('-w - reads the hosts from stdin: one a line, in the same syntax, blank lines and # comments skipped', async () => {
    const inventory = join(tmp.dir, 'inv.yml');
    writeFileSync(inventory, "groups:\n  pair: 'h[02-03]'\n");
    const list = ['# pasted from the ticket', '', `${fleet.user}@h01   # the first one`, '@pair', ''].join(
      '\n',
    );
    const r = await fleetsh(
      [
        'run',
        '-F',
        fleet.sshConfigPath,
        '-i',
        inventory,
        '-w',
        '-',
        '--gather',
        '--',
        'echo "$FLEETSH_HOST"',
      ],
      { env, input: list },
    );
    assert.equal(r.code, 0, r.stderr);
    for (const h of ['h01', 'h02', 'h03']) assert.match(r.stdout, new RegExp(`^  ${h}: ${h}$`, 'm'));
    assert.match(r.stdout, /^3 hosts: 3 ok/m);
    const hosts = await fleetsh(['hosts', '-i', inventory, '-w', '-', '-x', 'h03'], { env, input: list });
    assert.equal(hosts.stdout, `${fleet.user}@h01\nh02\n`);
  });

  test('-w - with a bad line names stdin:line; with --stdin-file - it says stdin cannot be both', async () => {
    const bad = await fleetsh(['run', '-F', fleet.sshConfigPath, '-w', '-', '--', 'true'], {
      env,
      input: 'h01\nh02:ssh\n',
    });
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /in stdin:2: expected a port number after ":", found "ssh"/);
    const both = await fleetsh(
      ['run', '-F', fleet.sshConfigPath, '-w', '-', '--stdin-file', '-', '--', 'cat'],
      {
        env,
        input: 'h01\n',
      },
    );
    assert.equal(both.code, 64);
    assert.match(
      both.stderr,
      /stdin cannot be both the host list \(-w -\) and the commands' input \(--stdin-file -\)/,
    );
    assert.equal(both.stdout, '');
    const excluded = await fleetsh(
      ['run', '-F', fleet.sshConfigPath, '-w', 'h01', '-x', '-', '--stdin-file', '-', '--', 'cat'],
      { env, input: 'h02\n' },
    );
    assert.equal(excluded.code, 64);
    assert.match(excluded.stderr, /stdin cannot be both the host list \(-x -\)/);
  });
});
