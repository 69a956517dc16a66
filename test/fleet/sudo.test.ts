// A fleet whose commands run through sudo (`sudo` option, `fleet.with({ sudo })`) or on a
// pseudo-terminal (`pty`), against real sshd and the real sudo (test/harness/sudo-users.ts): what
// the CLI's --sudo, --sudo-user and --tty are built on. A host where sudo refuses is 'failed' with
// sudo's reason, and is not retried; the password stays out of the fleet's options, events and report.
import assert from 'node:assert/strict';
import util from 'node:util';
import { after, before, describe, test } from 'node:test';
import { sshConnect } from '../../src/fleet/connect.js';
import { Fleet } from '../../src/fleet/fleet.js';
import { SudoError, UsageError } from '../../src/process/errors.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import {
  ensureSudoUsers,
  SUDO_USERS,
  sudoAvailable,
  sudoLogins,
  type SudoLogins,
} from '../harness/sudo-users.js';
import { sshFor } from '../ssh/helpers.js';

const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') ||
  (!sudoAvailable() && 'needs root, sudo (with visudo) and useradd');

describe('a fleet through sudo and on terminals', { skip }, () => {
  let tf: TestFleet;
  let ssh: SshFunction;
  let logins: SudoLogins;
  let password: string;
  before(async () => {
    password = ensureSudoUsers().password;
    logins = sudoLogins();
    tf = await startFleet({ healthy: 3, extraSshdConfig: logins.sshdConfig });
    logins.authorize(tf);
    ssh = sshFor(tf);
  });
  after(async () => {
    await ssh?.close();
    await tf?.stop();
    logins?.remove();
  });
  /** Every healthy host, logged in as `user`. */
  const targets = (user: string) =>
    tf.healthy.map((h) => ({ host: h.name, username: user, sshConfig: tf.sshConfigPath }));

  test('the sudo option: every host runs the command as root; with({ sudo }) as another user', async () => {
    const f = new Fleet(targets(SUDO_USERS.password), { connect: sshConnect(ssh), sudo: { password } });
    const report = await f.run`id -un`;
    assert.deepEqual(report.counts, { total: 3, ok: 3, failed: 0, timeout: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(
      report.groups.map((g) => [g.output, g.count]),
      [['root', 3]],
    );
    const asNobody = await f.with({ sudo: { user: 'nobody', password } }).run`id -un`;
    assert.deepEqual(
      asNobody.groups.map((g) => [g.output, g.count]),
      [['nobody', 3]],
    );
    const plain = await f.with({ sudo: false }).run`id -un`;
    assert.deepEqual(
      plain.groups.map((g) => [g.output, g.count]),
      [[SUDO_USERS.password, 3]],
    );
  });

  test('sudo refusing is a failed host with its reason, never retried; the password is nowhere to be seen', async () => {
    const wrong = 'wrong-fleet-sudo-password';
    const f = new Fleet(targets(SUDO_USERS.password), {
      connect: sshConnect(ssh),
      sudo: { password: wrong },
      retries: { attempts: 3, baseMs: 10, on: 'any' },
    });
    const events: unknown[] = [];
    const run = f.run`echo never`;
    for (const e of ['server:error', 'server:retry', 'server:success'] as const)
      run.on(e, (p) => events.push(p));
    const report = await run;
    assert.equal(report.counts.failed, 3);
    for (const h of report.hosts) {
      assert.equal(h.kind, 'failed');
      assert.equal(h.attempts.length, 1, 'not retried');
      assert.match(h.error!, /sudo did not run the command: it rejected the password/);
    }
    assert.ok(
      events.every(
        (e) => !(e as { cause?: unknown }).cause || (e as { cause: unknown }).cause instanceof SudoError,
      ),
    );
    for (const text of [
      report.toText(),
      JSON.stringify(report),
      util.inspect(events, { depth: 6 }),
      JSON.stringify(f.options),
      util.inspect(f.options),
      JSON.stringify(f.with({ sudo: { password: wrong } }).options),
    ])
      assert.ok(!text.includes(wrong), `the password shows: ${text.slice(0, 300)}`);

    // No password at all: sudo -n, refused at once, and the message says how to give one.
    const none = await new Fleet(targets(SUDO_USERS.password), { connect: sshConnect(ssh), sudo: true })
      .run`true`;
    assert.equal(none.counts.failed, 3);
    assert.match(none.hosts[0]!.error!, /--ask-sudo-pass/);
  });

  test('the pty option: every command has a terminal; with requiretty, sudo works on it', async () => {
    const f = new Fleet(targets(SUDO_USERS.requiretty), {
      connect: sshConnect(ssh),
      sudo: { password },
      pty: true,
    });
    const report = await f.run`id -un; tty >/dev/null && echo on-a-tty`;
    assert.deepEqual(
      report.groups.map((g) => [g.output, g.count]),
      [['root\r\non-a-tty', 3]],
    );
    const without = await f.with({ pty: false }).run`id -un`;
    assert.equal(without.counts.failed, 3);
    assert.match(without.hosts[0]!.error!, /--tty/);
  });

  test('bad values fail before anything runs, naming the option', () => {
    const connect = sshConnect(ssh);
    assert.throws(
      () => new Fleet(targets('x'), { connect, sudo: 'root' as never }),
      (e: Error) => e instanceof UsageError && /option sudo/.test(e.message),
    );
    assert.throws(() => new Fleet(targets('x'), { connect, sudo: { user: 'a b' } }), /option sudo.user/);
    assert.throws(() => new Fleet(targets('x'), { connect, pty: { cols: -1 } }), /option pty.cols/);
  });
});
