// sudo over SSH, against the machine's real sudo (Debian's), with login users that meet one sudoers
// rule each (test/harness/sudo-users.ts): a password rule, NOPASSWD, requiretty, no credential
// cache (timestamp_timeout=0), another user to run as, a wrong password. The password must reach
// sudo and nothing else: not the command's input, not its output, not a process's arguments or
// environment on the host (scanned in /proc while commands run), not an error. A killed command
// under sudo must be gone from the host, children included (pgrep). Every test runs through both
// transports: ssh2, and the system ssh on a ControlMaster (whose streams carry sudo's dialog).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import util from 'node:util';
import { after, before, describe, test } from 'node:test';
import { raw } from '../../src/command/template.js';
import { SudoError } from '../../src/process/errors.js';
import type { SshFunction, SshShell } from '../../src/ssh/shell.js';
import { SUDO_EXIT_WAIT_MS } from '../../src/ssh/sudo.js';
import type { SshTargetOptions } from '../../src/ssh/types.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import {
  ensureSudoUsers,
  SUDO_USERS,
  sudoAvailable,
  sudoLogins,
  type SudoLogins,
} from '../harness/sudo-users.js';
import { sshFor, targetOf } from './helpers.js';

const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') ||
  (!sudoAvailable() && 'needs root, sudo (with visudo) and useradd');

/** Processes on this machine (the hosts' too) whose command line matches `pattern`. */
function pgrep(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', pattern], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return []; // status 1: none
  }
}

async function gone(pattern: string, withinMs: number): Promise<string[]> {
  const end = performance.now() + withinMs;
  for (;;) {
    const left = pgrep(pattern);
    if (left.length === 0 || performance.now() > end) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const transport of ['ssh2', 'openssh'] as const)
  describe(`ssh sudo, with the real sudo (${transport})`, { skip }, () => {
    let fleet: TestFleet;
    let ssh: SshFunction;
    let logins: SudoLogins;
    let password: string;
    /** First on the host's PATH, and empty but for the test that puts a stand-in sudo there. */
    let standIn: string;
    before(async () => {
      password = ensureSudoUsers().password;
      logins = sudoLogins();
      standIn = mkdtempSync(join(tmpdir(), 'fleetsh-sudo-stand-in-'));
      chmodSync(standIn, 0o755);
      fleet = await startFleet({
        healthy: 1,
        extraSshdConfig: `${logins.sshdConfig}\nSetEnv PATH=${standIn}:/usr/sbin:/usr/bin:/sbin:/bin\n`,
      });
      logins.authorize(fleet);
      ssh = sshFor(fleet);
    });
    after(async () => {
      await ssh?.close();
      await fleet?.stop();
      logins?.remove();
      if (standIn) rmSync(standIn, { recursive: true, force: true });
    });
    /** A shell logged in (with the fleet's key, no password) as one of the sudo users. */
    const as = (user: string, extra: Partial<SshTargetOptions> = {}): SshShell =>
      ssh(targetOf(fleet, fleet.healthy[0]!, { username: user, transport, ...extra }));

    test('a password rule: the command runs as root, its input after the password; no prompt or marker shows', async () => {
      const s = as(SUDO_USERS.password);
      assert.equal((await s`id -un`).stdout, `${SUDO_USERS.password}\n`);
      const r = await s.sudo({ password })`id -un; cat; echo done >&2`.stdin('payload\n');
      assert.equal(r.stdout, 'root\npayload\n');
      assert.equal(r.stderr, 'done\n');
      assert.equal(r.command, 'id -un; cat; echo done >&2');
      // The target's sudoPassword is the default; a shell derived with .with({ sudo }) runs through sudo too.
      const t = as(SUDO_USERS.password, { sudoPassword: password });
      assert.equal((await t.sudo`id -un`).stdout, 'root\n');
      assert.equal((await t.with({ sudo: true })`id -un`).stdout, 'root\n');
      assert.equal(
        (await t.with({ sudo: true }).with({ sudo: false })`id -un`).stdout,
        `${SUDO_USERS.password}\n`,
      );
    });

    test("the command's environment and directory reach it under sudo, which would reset them", async () => {
      const r = await as(SUDO_USERS.nopasswd).sudo`echo "$WHERE $(pwd) $FLEETSH_JOB"`
        .env({ WHERE: 'here' })
        .cwd('/tmp');
      assert.match(r.stdout, /^here \/tmp \w+\n$/);
    });

    test('NOPASSWD: no password needed (sudo -n); one given is never sent, so the command reads only its input', async () => {
      const s = as(SUDO_USERS.nopasswd);
      assert.equal((await s.sudo`id -un; cat`.stdin('x\n')).stdout, 'root\nx\n');
      const r = await s.sudo({ password })`cat; echo "[$(cat)]"`.stdin('only this\n');
      assert.equal(r.stdout, 'only this\n[]\n');
      // Binary input of a megabyte arrives whole after the dialog.
      const data = randomBytes(1 << 20);
      const sum = await s.sudo({ password })`sha256sum | cut -d' ' -f1`.stdin(data);
      assert.equal(sum.stdout.trim(), createHash('sha256').update(data).digest('hex'));
    });

    test('a password rule without a password fails at once: a SudoError naming the host and what to do', async () => {
      const s = as(SUDO_USERS.password);
      for (const p of [s.sudo`id -un`, s.sudo`id -un`.nothrow()]) {
        const e = await Promise.resolve(p).then(
          () => assert.fail('expected a SudoError'),
          (err: unknown) => err,
        );
        assert.ok(e instanceof SudoError, String(e));
        assert.equal(e.kind, 'failed');
        assert.equal(e.reason, 'refused');
        assert.equal(e.exitCode, 1);
        assert.equal(e.host, fleet.healthy[0]!.name);
        assert.match(e.message, new RegExp(`^${fleet.healthy[0]!.name}: sudo did not run the command`));
        assert.match(e.message, /sudo said:\n.+/); // sudo's own reason, as it gave it
        assert.match(e.message, /--ask-sudo-pass/);
        assert.match(e.message, /NOPASSWD/);
      }
    });

    test('a wrong password: rejected once, never tried again, never shown', async () => {
      const wrong = `wrong-${randomBytes(6).toString('hex')}`;
      for (const pty of [false, true]) {
        const t0 = performance.now();
        const e = await as(SUDO_USERS.password).sudo({ password: wrong })`echo never`.pty(pty).then(
          () => assert.fail('expected a SudoError'),
          (err: unknown) => err,
        );
        assert.ok(e instanceof SudoError, String(e));
        assert.equal(e.reason, 'password-rejected', e.message);
        assert.ok(!e.stdout.includes('never'));
        for (const text of [e.message, e.stdout, e.stderr, util.inspect(e), JSON.stringify(e)])
          assert.ok(!text.includes(wrong), `the password shows: ${text}`);
        // One wrong try costs sudo's delay (2 s, pam_unix) once, not passwd_tries (3) times.
        assert.ok(performance.now() - t0 < 5000, `took ${performance.now() - t0} ms`);
      }
    });

    test('--sudo-user: another user than root', async () => {
      const r = await as(SUDO_USERS.password).sudo({ user: 'nobody', password })`id -un`;
      assert.equal(r.stdout, 'nobody\n');
      const n = await as(SUDO_USERS.nopasswd).with({ sudo: { user: 'nobody' } })`id -un`;
      assert.equal(n.stdout, 'nobody\n');
    });

    test('requiretty: refused without a terminal (the message says --tty), runs on one', async () => {
      const s = as(SUDO_USERS.requiretty, { sudoPassword: password });
      const e = await s.sudo`id -un`.then(
        () => assert.fail('expected a SudoError'),
        (err: unknown) => err,
      );
      assert.ok(e instanceof SudoError);
      assert.equal(e.reason, 'refused');
      assert.match(e.message, /--tty/);
      const r = await s.sudo`id -un; echo err >&2`.pty();
      assert.equal(r.stdout, 'root\r\nerr\r\n'); // a terminal: one stream, CRLF
      assert.equal(r.stderr, '');
      // Input on a terminal: after the password, echoed as typed, then ^D ends it.
      const c = await s.sudo`cat`.pty().stdin('typed\n');
      assert.equal(c.stdout, 'typed\r\ntyped\r\n');
    });

    test('on a terminal without input, a command that reads gets end of input at once: after a password (echo off, or pwfeedback) or with none asked', async () => {
      // The ^D must be typed once the command runs: typed earlier, sudo takes it or turns it into a
      // NUL when it sets the terminal up for the command, and `cat` waits forever.
      const cases = [
        [SUDO_USERS.password, password], // sudo turns echo off to read the password
        [SUDO_USERS.requiretty, password], // pwfeedback: sudo reads it character by character
        [SUDO_USERS.nopasswd, undefined], // sudo -n
      ] as const;
      for (const [user, sudoPassword] of cases) {
        const r = await as(user, sudoPassword ? { sudoPassword } : {}).sudo`cat; echo "read to the end"`
          .pty()
          .timeout('30s');
        assert.equal(r.stdout, 'read to the end\r\n', user);
      }
      // A wrong password still fails without the typed end of input being taken as a second one.
      const e = await as(SUDO_USERS.requiretty, { sudoPassword: 'not-it' }).sudo`cat`
        .pty()
        .timeout('30s')
        .then(
          () => assert.fail('expected a SudoError'),
          (err: unknown) => err,
        );
      assert.ok(e instanceof SudoError, String(e));
      assert.equal(e.reason, 'password-rejected');
    });

    test('a sudo on a terminal that stays after its command has ended: the session is closed a few seconds later, with the output and status the command left', async () => {
      // The real sudo, then a stay in its place, as sudo 1.9.13 with use_pty sometimes does when
      // input reaches the terminal as the command ends (src/ssh/sudo.ts's header): found first
      // through the host's PATH.
      const stay = `600.${Date.now() % 1e6}${Math.floor(Math.random() * 1e6)}`;
      const fake = join(standIn, 'sudo');
      writeFileSync(fake, `#!/bin/sh\n/usr/bin/sudo "$@"\nexec sleep ${stay}\n`, { mode: 0o755 });
      try {
        const s = as(SUDO_USERS.password, { sudoPassword: password });
        assert.equal((await s`command -v sudo`).stdout, `${fake}\n`, 'the stand-in is the sudo found');
        const started = performance.now();
        const r = await s.sudo`id -un; echo out; exit 3`.pty().nothrow().timeout('60s');
        const took = performance.now() - started;
        assert.equal(r.stdout, 'root\r\nout\r\n');
        assert.equal(r.exitCode, 3);
        assert.ok(took >= SUDO_EXIT_WAIT_MS, `ended after ${Math.round(took)} ms, before the wait`);
        // Closing the session hung the terminal up, which ended the stand-in too.
        assert.deepEqual(await gone(`sleep ${stay}`, 5000), [], 'the stuck sudo was left running');
      } finally {
        rmSync(fake, { force: true });
      }
      // Where sudo exits, the frame is taken out all the same and the status is sudo's.
      const q = await as(SUDO_USERS.password, { sudoPassword: password }).sudo`echo fine; exit 4`
        .pty()
        .nothrow();
      assert.equal(q.stdout, 'fine\r\n');
      assert.equal(q.exitCode, 4);
      // A command killed by a signal is reported so, as sudo itself reports it.
      const k = await as(SUDO_USERS.password, { sudoPassword: password }).sudo`echo bye; kill -KILL $$`
        .pty()
        .nothrow();
      assert.deepEqual([k.stdout, k.exitCode, k.signal], ['bye\r\n', null, 'SIGKILL']);
    });

    test('timestamp_timeout=0: one sudo is given the password and runs the command (no credential cache needed)', async () => {
      // The control: validating first and then running `sudo -n` works with the cache, not without it.
      const validateThenRun = "sudo -S -p '' -v && sudo -n true";
      const cached = await as(SUDO_USERS.password)`${validateThenRun}`.stdin(`${password}\n`).nothrow();
      assert.equal(cached.exitCode, 0, cached.stderr);
      const uncached = await as(SUDO_USERS.noCache)`${validateThenRun}`.stdin(`${password}\n`).nothrow();
      assert.equal(uncached.exitCode, 1, 'timestamp_timeout=0 is in effect');
      const s = as(SUDO_USERS.noCache, { sudoPassword: password });
      for (let i = 0; i < 2; i++) assert.equal((await s.sudo`id -un`).stdout, 'root\n');
      assert.equal((await s.sudo`id -un`.pty()).stdout, 'root\r\n');
    });

    test('the password is in no process argument list or environment on the host while commands run', async () => {
      const marker = `sudo-scan-${process.pid}-${randomBytes(4).toString('hex')}`;
      const seen = { cmdlines: 0, environs: 0, ours: 0 };
      const leaks: string[] = [];
      const scan = () => {
        for (const pid of readdirSync('/proc')) {
          if (!/^\d+$/.test(pid)) continue;
          for (const file of ['cmdline', 'environ'] as const) {
            let text: string;
            try {
              text = readFileSync(`/proc/${pid}/${file}`, 'latin1');
            } catch {
              continue; // gone
            }
            seen[file === 'cmdline' ? 'cmdlines' : 'environs']++;
            if (file === 'cmdline' && text.includes(marker)) seen.ours++;
            if (text.includes(password))
              leaks.push(
                `${file} of ${pid}: ${text.replaceAll(password, '<password>').replaceAll('\0', ' ').slice(0, 200)}`,
              );
          }
        }
      };
      const sampler = setInterval(scan, 20);
      try {
        const run = (s: SshShell) => s.sudo`sleep 1; echo ok; : ${marker}`;
        const results = await Promise.allSettled([
          run(as(SUDO_USERS.password, { sudoPassword: password })),
          run(as(SUDO_USERS.noCache, { sudoPassword: password })),
          run(as(SUDO_USERS.requiretty, { sudoPassword: password })).pty(),
          run(as(SUDO_USERS.nopasswd, { sudoPassword: password })),
          as(SUDO_USERS.password, { sudoPassword: 'not-it' }).sudo`echo ${marker}`,
        ]);
        assert.deepEqual(
          results.map((r) => r.status),
          ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
        );
      } finally {
        clearInterval(sampler);
      }
      scan();
      assert.ok(seen.ours > 0, 'the scan saw the commands under sudo');
      assert.ok(seen.environs > 0, 'the scan read environments');
      assert.deepEqual(leaks, []);
    });

    test('a timeout kills the command under sudo and its children on the host, with or without a terminal', async () => {
      for (const [name, ignoreTerm, pty] of [
        ['plain', false, false],
        ['ignoring TERM and HUP (SIGKILL, through sudo)', true, false],
        ['on a terminal, ignoring TERM and HUP', true, true],
      ] as const) {
        // A sleep whose own argument list is unique: pgrep finds the child, not only its shell.
        const seconds = `30.${Date.now() % 1e6}${Math.floor(Math.random() * 1e6)}`;
        const trap = ignoreTerm ? "trap '' TERM HUP; " : '';
        const p = as(SUDO_USERS.password, { sudoPassword: password })
          .sudo`${raw(trap)}sleep ${seconds}; echo never`;
        const e = await p
          .pty(pty)
          .timeout('1s')
          .then(
            () => assert.fail('expected a timeout'),
            (err: unknown) => err,
          );
        assert.equal((e as { kind?: string }).kind, 'timeout', `${name}: ${String(e)}`);
        // SIGKILL comes 2 s after SIGTERM; the helper then needs a sudo of its own (about 0.1 s here).
        assert.deepEqual(await gone(`sleep ${seconds}`, 3000), [], `${name}: left running`);
      }
    });
  });
