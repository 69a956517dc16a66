// sudo over SSH: the password reaches sudo on stdin through the shell's own printf, never on a
// command line (checked with `ps` while the command runs), never in an error, and the rest of
// stdin reaches the command. The hosts have no sudo: a fake one on PATH plays its part, checking the
// password it reads and keeping a timestamp, as sudo's credential cache does.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SshFunction } from '../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { sshFor, targetOf } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const PASSWORD = 'sudo-secret-Xy7 with spaces';

/** A stand-in for sudo, shared with test/secrets.test.ts. */
const FAKE_SUDO = readFileSync(new URL('./fixtures/fake-sudo.sh', import.meta.url), 'utf8');

describe('ssh sudo', { skip }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  let bin: string;
  before(async () => {
    fleet = await startFleet({ healthy: 1 });
    ssh = sshFor(fleet);
    bin = mkdtempSync(path.join(tmpdir(), 'fleetsh-sudo-'));
    writeFileSync(path.join(bin, 'sudo'), FAKE_SUDO);
    chmodSync(path.join(bin, 'sudo'), 0o755);
    writeFileSync(path.join(bin, 'expected'), PASSWORD);
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
    rmSync(bin, { recursive: true, force: true });
  });
  const shell = (extra = {}) =>
    ssh(targetOf(fleet, fleet.healthy[0]!, { sudoPassword: PASSWORD, ...extra })).env({
      PATH: `${bin}:/usr/bin:/bin`,
    });

  test('the command runs through sudo; the password is in no process list and the rest of stdin reaches the command', async () => {
    const s = shell();
    const r = await s.sudo`echo ran as $(id -un); ps -eo args; cat`.stdin('payload\n');
    assert.match(r.stdout, /^ran as /);
    assert.ok(r.stdout.includes('payload'), r.stdout);
    assert.ok(!r.stdout.replace('payload', '').includes(PASSWORD), 'password visible in ps output');
    assert.ok(!r.command.includes(PASSWORD));
    const argv = (await s`cat ${path.join(bin, 'argv.log')}`).stdout;
    assert.ok(!argv.includes(PASSWORD), argv);
  });

  test('a wrong password fails without printing it', async () => {
    const s = shell({ sudoPassword: 'wrong-sudo-pass-Qq1' });
    await assert.rejects(s.sudo`true`, (e: Error) => {
      assert.match(e.message, /a password is required/);
      assert.ok(!e.message.includes('wrong-sudo-pass-Qq1'));
      return true;
    });
  });
});
