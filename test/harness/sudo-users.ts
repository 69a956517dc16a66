// Login users for the tests of the real sudo, and their rules in a sudoers drop-in. Tests run as
// root, whose sudo never asks for a password, so each case is a non-root user that logs in with a
// password to the harness's `password` host (the same machine) and meets one sudoers rule:
//
//   fleetsh-sudo        ALL=(ALL) ALL              a password rule
//   fleetsh-sudo-nopw   ALL=(ALL) NOPASSWD: ALL    no password
//   fleetsh-sudo-tty    + Defaults requiretty      sudo only from a terminal (and pwfeedback: an
//                                                  asterisk shown per password character read)
//   fleetsh-sudo-t0     + Defaults timestamp_timeout=0: no credential cache at all
//
// They log in with the fleet's client key, from a file under their home named for one test process
// (sudoLogins(): the Match block it gives startFleet's extraSshdConfig, then authorize() once the
// fleet's key exists), so parallel test files with fleets of their own do not overwrite each other.
// Every user has the password of the harness's password user (faults.ts: one random password per
// machine, readable by root only), so the rules are harmless when left in place: whoever could use
// them can read the password only as root. The drop-in's text never changes, and it is written aside
// (a name with a dot, which sudo skips), checked with `visudo -cf`, and renamed into place: test
// files running in parallel write the same bytes, and sudo never reads half a file. It is left in
// place after the tests for the same reason (another test file may be using it).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { ensurePasswordUser } from './faults.js';
import type { TestFleet } from './fleet.js';

export const SUDO_USERS = {
  password: 'fleetsh-sudo',
  nopasswd: 'fleetsh-sudo-nopw',
  requiretty: 'fleetsh-sudo-tty',
  noCache: 'fleetsh-sudo-t0',
} as const;

export const SUDOERS_FILE = '/etc/sudoers.d/fleetsh-test';

const SUDOERS = [
  '# Written by the fleetsh test suite (test/harness/sudo-users.ts); safe to delete.',
  `${SUDO_USERS.password} ALL=(ALL:ALL) ALL`,
  `${SUDO_USERS.nopasswd} ALL=(ALL:ALL) NOPASSWD: ALL`,
  `Defaults:${SUDO_USERS.requiretty} requiretty, pwfeedback`,
  `${SUDO_USERS.requiretty} ALL=(ALL:ALL) ALL`,
  `Defaults:${SUDO_USERS.noCache} timestamp_timeout=0`,
  `${SUDO_USERS.noCache} ALL=(ALL:ALL) ALL`,
  '',
].join('\n');

/** Whether this machine can run the real-sudo tests: sudo, visudo, useradd, and root. */
export function sudoAvailable(): boolean {
  return (
    process.getuid?.() === 0 &&
    existsSync('/usr/bin/sudo') &&
    existsSync('/usr/sbin/visudo') &&
    existsSync('/usr/sbin/useradd')
  );
}

/** Creates the users if absent, (re)sets their password, and installs the drop-in. */
export function ensureSudoUsers(): { password: string } {
  const { password } = ensurePasswordUser();
  for (const user of Object.values(SUDO_USERS)) {
    if (spawnSync('id', ['-u', user], { stdio: 'ignore' }).status === 0) continue;
    const r = spawnSync('/usr/sbin/useradd', ['-m', '-s', '/bin/sh', user], { encoding: 'utf8' });
    // Exit status 9: a parallel test file created it first.
    if (r.status !== 0 && r.status !== 9) throw new Error(`useradd ${user}: ${r.stderr}`);
  }
  const input = Object.values(SUDO_USERS)
    .map((u) => `${u}:${password}\n`)
    .join('');
  // chpasswd takes a lock on /etc/shadow; a parallel test file may hold it for a moment.
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync('/usr/sbin/chpasswd', { input, encoding: 'utf8' });
    if (r.status === 0) break;
    if (attempt >= 20) throw new Error(`chpasswd: ${r.stderr}`);
    spawnSync('sleep', ['0.1']);
  }
  if (!existsSync(SUDOERS_FILE) || readFileSync(SUDOERS_FILE, 'utf8') !== SUDOERS) {
    const tmp = `/etc/sudoers.d/.fleetsh-test.${process.pid}`;
    try {
      writeFileSync(tmp, SUDOERS, { mode: 0o440 });
      chmodSync(tmp, 0o440);
      execFileSync('/usr/sbin/visudo', ['-cf', tmp], { stdio: 'pipe' });
      renameSync(tmp, SUDOERS_FILE);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return { password };
}

export interface SudoLogins {
  /** For startFleet's extraSshdConfig: the sudo users' keys come from their own file. */
  sshdConfig: string;
  /** Lets the sudo users log in with the fleet's client key. */
  authorize(fleet: TestFleet): void;
  /** Removes the key files (the users and the drop-in stay: see the header). */
  remove(): void;
}

export function sudoLogins(): SudoLogins {
  const name = `fleetsh-test-keys-${process.pid}-${randomBytes(4).toString('hex')}`;
  const users = Object.values(SUDO_USERS);
  const home = (user: string) =>
    execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':')[5] ?? homedir();
  const files: string[] = [];
  return {
    sshdConfig: `Match User ${users.join(',')}\n  AuthorizedKeysFile %h/.ssh/${name}\n`,
    authorize(fleet) {
      const pub = readFileSync(`${fleet.clientKeyPath}.pub`, 'utf8');
      for (const user of users) {
        // Owned by root and readable by all: sshd reads it as the user (StrictModes is off).
        const dir = `${home(user)}/.ssh`;
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        const file = `${dir}/${name}`;
        writeFileSync(file, pub, { mode: 0o644 });
        files.push(file);
      }
    },
    remove() {
      for (const f of files.splice(0)) rmSync(f, { force: true });
    },
  };
}
