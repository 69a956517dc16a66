// `fleetsh run --sudo`, `--sudo-user`, `--ask-sudo-pass` and `--tty`, against real sshd and the real
// sudo (login users of test/harness/sudo-users.ts). The password is asked on the terminal (tmux)
// without echo and shows nowhere; a host whose sudo wants a password nobody gave fails with what to
// do; --tty merges the streams, and a timeout or Ctrl-C still ends the command on the host (pgrep).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import {
  ensureSudoUsers,
  SUDO_USERS,
  sudoAvailable,
  sudoLogins,
  type SudoLogins,
} from '../harness/sudo-users.js';
import { CLI, ensureBuilt, fleetsh, scratch, waitFor } from './helpers.js';

const tmuxAvailable = spawnSync('tmux', ['-V']).status === 0;
const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') ||
  (!sudoAvailable() && 'needs root, sudo (with visudo) and useradd');

function pgrep(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', pattern], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return [];
  }
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('fleetsh run with sudo and a terminal', { skip }, () => {
  let fleet: TestFleet;
  let logins: SudoLogins;
  let password: string;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  const sessions: string[] = [];

  before(async () => {
    ensureBuilt();
    password = ensureSudoUsers().password;
    logins = sudoLogins();
    fleet = await startFleet({ healthy: 2, extraSshdConfig: logins.sshdConfig });
    logins.authorize(fleet);
  });
  after(async () => {
    for (const s of sessions) spawnSync('tmux', ['kill-session', '-t', s]);
    await fleet?.stop();
    logins?.remove();
    tmp.cleanup();
  });
  const run = (args: string[], opts: Parameters<typeof fleetsh>[1] = {}) =>
    fleetsh(['run', '-F', fleet.sshConfigPath, '-w', 'h[01-02]', ...args], { env, ...opts });

  test('--sudo (NOPASSWD) runs as root, --sudo-user as another user', async () => {
    const root = await run(['-l', SUDO_USERS.nopasswd, '--sudo', '--gather', '--', 'id -un']);
    assert.equal(root.code, 0, root.stdout + root.stderr);
    assert.match(root.stdout, /^h\[01-02\] \(2\)\n-+\nroot$/m);
    const nobody = await run(['-l', SUDO_USERS.nopasswd, '--sudo-user', 'nobody', '--json', '--', 'id -un']);
    assert.equal(nobody.code, 0, nobody.stderr);
    const report = JSON.parse(nobody.stdout) as { hosts: Array<{ stdout: string }> };
    assert.deepEqual(
      report.hosts.map((h) => h.stdout),
      ['nobody\n', 'nobody\n'],
    );
    const bad = await run(['--sudo-user', 'no body', '--', 'true']);
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /--sudo-user: expected a user name/);
  });

  test('fleetsh script --sudo: the script goes to the interpreter under sudo, its input held until sudo starts it', async () => {
    const script = join(tmp.dir, 'who.sh');
    writeFileSync(script, '#!/bin/sh\necho "$(id -un) on $FLEETSH_HOST: $1"\n');
    const r = await fleetsh(
      [
        'script',
        '-F',
        fleet.sshConfigPath,
        '-w',
        'h[01-02]',
        '-l',
        SUDO_USERS.nopasswd,
        '--sudo',
        script,
        'a b',
      ],
      { env },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^h01: +root on h01: a b$/m);
    assert.match(r.stdout, /^h02: +root on h02: a b$/m);
  });

  test('a password rule and no password: each host fails at once, saying to use --ask-sudo-pass or NOPASSWD', async () => {
    const r = await run(['-l', SUDO_USERS.password, '--sudo', '--', 'id -un'], { timeoutMs: 20_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^failed: h\[01-02\] \(2\)$/m);
    assert.match(r.stdout, /sudo did not run the command/);
    assert.match(r.stdout, /--ask-sudo-pass/);
    assert.match(r.stdout, /NOPASSWD/);
    assert.match(r.stdout, /2 hosts: 0 ok, 2 failed/);
  });

  test('--ask-sudo-pass without a terminal: a usage error before anything runs', async () => {
    const r = await run(['-l', SUDO_USERS.password, '--ask-sudo-pass', '--', 'id -un'], { detached: true });
    assert.equal(r.code, 64, r.stdout + r.stderr);
    assert.match(r.stderr, /--ask-sudo-pass: no terminal to ask on/);
  });

  test('--tty: one stream, prefixed per host; the report has CRLF output', async () => {
    const live = await run(['--tty', '--', 'tty >/dev/null && echo on-a-tty; echo err >&2']);
    assert.equal(live.code, 0, live.stderr);
    for (const h of ['h01', 'h02']) {
      assert.match(live.stdout, new RegExp(`^${h}: on-a-tty$`, 'm'));
      assert.match(live.stdout, new RegExp(`^${h}: err$`, 'm'), 'stderr arrives on stdout, without \\r');
    }
    assert.doesNotMatch(live.stderr, /err/);
    const json = await run(['--tty', '--json', '--', 'echo x; echo y >&2']);
    const hosts = (JSON.parse(json.stdout) as { hosts: Array<{ stdout: string; stderr: string }> }).hosts;
    assert.deepEqual(hosts[0], { ...hosts[0], stdout: 'x\r\ny\r\n', stderr: '' });
  });

  test('--tty with a timeout, and with Ctrl-C: the command is gone from the hosts', async () => {
    const seconds = `30.${process.pid}${Date.now() % 100000}`;
    const timedOut = await run(['--tty', '-t', '1s', '--', `trap '' TERM HUP; sleep ${seconds}`]);
    assert.equal(timedOut.code, 1, timedOut.stdout + timedOut.stderr);
    assert.match(timedOut.stdout, /^timeout: h\[01-02\] \(2\)$/m);
    await waitFor(() => pgrep(`sleep ${seconds}`).length === 0, 4000, 'the sleeps to be gone');

    const again = `31.${process.pid}${Date.now() % 100000}`;
    let sent = false;
    const interrupted = await run(['--tty', '--', `sleep ${again}`], {
      timeoutMs: 30_000,
      onSpawn: (child) => {
        void waitFor(() => pgrep(`sleep ${again}`).length >= 2, 20_000, 'two remote sleeps').then(() => {
          sent = child.kill('SIGINT');
        });
      },
    });
    assert.ok(sent, 'SIGINT was sent');
    assert.equal(interrupted.code, 130, interrupted.stderr);
    await waitFor(() => pgrep(`sleep ${again}`).length === 0, 4000, 'the sleeps to be gone');
  });

  test(
    '--ask-sudo-pass asks once on the terminal, without echo; with --tty, requiretty hosts run the command',
    { skip: !tmuxAvailable && 'needs tmux' },
    async () => {
      const name = `fleetsh-sudo-${process.pid}`;
      sessions.push(name);
      const args = [
        'run',
        '-F',
        fleet.sshConfigPath,
        '-w',
        'h[01-02]',
        '-l',
        SUDO_USERS.requiretty,
        '--ask-sudo-pass',
        '--tty',
        '--',
        'id -un',
      ];
      const cmd = `env FLEETSH_STATE_FILE=${quote(tmp.stateFile)} NO_COLOR=1 ${quote(process.execPath)} ${quote(CLI)} ${args.map(quote).join(' ')}; echo "[exit $?]"`;
      const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
      tmux('new-session', '-d', '-x', '120', '-y', '30', '-s', name, cmd);
      tmux('set-option', '-t', name, 'remain-on-exit', 'on');
      // With its scrollback: tmux's "Pane is dead" line scrolls the screen by one once fleetsh ends.
      const screen = () => tmux('capture-pane', '-p', '-S', '-', '-t', name);
      await waitFor(() => screen().includes('fleetsh: sudo password:'), 20_000, 'the prompt');
      // Typed in pieces, with a mistake erased, as a person would.
      tmux('send-keys', '-t', name, '-l', `${password.slice(0, 3)}x`);
      tmux('send-keys', '-t', name, 'BSpace');
      tmux('send-keys', '-t', name, '-l', password.slice(3));
      tmux('send-keys', '-t', name, 'Enter');
      await waitFor(() => screen().includes('[exit '), 30_000, 'fleetsh to end');
      const shown = screen();
      assert.match(shown, /\[exit 0\]/, shown);
      assert.match(shown, /^h01: root$/m);
      assert.match(shown, /^h02: root$/m);
      assert.equal(shown.split('fleetsh: sudo password:').length, 2, `asked once:\n${shown}`);
      assert.ok(!shown.includes(password), 'the password was echoed');
    },
  );
});
