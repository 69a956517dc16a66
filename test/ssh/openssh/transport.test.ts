// The OpenSSH transport against real sshd, beside the ssh2 transport: the same connection failures
// give the same kinds (taken from ssh's exit status 255 and its stderr), one master a host in a
// private folder that close() empties, secrets it cannot pass refused with a clear error, and what
// only the ssh2 transport does yet (tunnels) refused with an error naming the transport. (File
// transfer over it: openssh-sftp.test.ts.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConnectionError, UsageError } from '../../../src/process/errors.js';
import type { SshFunction } from '../../../src/ssh/shell.js';
import type { SshTargetOptions } from '../../../src/ssh/types.js';
import { startFleet, sshdAvailable, type TestFleet } from '../../harness/fleet.js';
import { directOf, sshFor, targetOf } from '../helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

/** Processes whose command line holds `text` (the masters name their socket). */
function pgrep(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return [];
  }
}

describe('the OpenSSH transport', { skip }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  before(async () => {
    fleet = await startFleet({
      healthy: 2,
      faults: ['dead-port', 'black-hole', 'changed-key', 'refuses-key'],
    });
    ssh = sshFor(fleet);
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
  });
  const openssh = (name: string, extra: Partial<SshTargetOptions> = {}) =>
    ssh(targetOf(fleet, fleet.host(name), { transport: 'openssh', connectTimeout: '2s', ...extra }));

  test('connection failures have the kinds and stages the ssh2 transport gives them', async () => {
    const kindOf = async (target: SshTargetOptions) => {
      const own = sshFor(fleet);
      try {
        const e = await own(target)`true`.then(
          () => assert.fail(`${target.host}: expected a connection failure`),
          (err: unknown) => err,
        );
        assert.ok(e instanceof ConnectionError, String(e));
        assert.match(e.message, new RegExp(`^${target.host}: `), 'the message names the host');
        return `${e.kind}/${e.stage}`;
      } finally {
        await own.close();
      }
    };
    const emptyKnownHosts = join(fleet.dir, 'known_hosts.empty');
    writeFileSync(emptyKnownHosts, '');
    const cases: Array<[string, Partial<SshTargetOptions>]> = [
      ['h-dead-port', {}],
      ['h-black-hole', {}],
      ['h-changed-key', {}],
      ['h-refuses-key', {}],
      ['h01', { knownHosts: emptyKnownHosts, hostKeyPolicy: 'strict' }],
    ];
    for (const [name, extra] of cases) {
      const base = targetOf(fleet, fleet.host(name), { connectTimeout: '2s', ...extra });
      const viaSsh2 = await kindOf(base);
      const viaOpenssh = await kindOf({ ...base, transport: 'openssh' });
      assert.equal(viaOpenssh.split('/')[0], viaSsh2.split('/')[0], `${name}: the same kind`);
    }
    assert.equal(
      await kindOf({ ...targetOf(fleet, fleet.host('h-dead-port')), transport: 'openssh' }),
      'refused/tcp',
    );
    assert.equal(
      await kindOf({ ...targetOf(fleet, fleet.host('h-refuses-key')), transport: 'openssh' }),
      'auth/auth',
    );
  });

  test("hostKeyPolicy 'accept-new' records an unknown key and connects; 'off' connects and records nothing", async () => {
    const file = join(fleet.dir, 'known_hosts.new');
    writeFileSync(file, '');
    const s = openssh('h02', { knownHosts: file, hostKeyPolicy: 'accept-new' });
    assert.equal((await s`echo in`).stdout, 'in\n');
    const h = fleet.host('h02');
    assert.match(
      execFileSync('cat', [file], { encoding: 'utf8' }),
      new RegExp(`^\\[${h.address}\\]:${h.port} ssh-ed25519 `),
    );
    await s.close();
    const off = join(fleet.dir, 'known_hosts.off');
    writeFileSync(off, '');
    const o = openssh('h02', { knownHosts: off, hostKeyPolicy: 'off' });
    assert.equal((await o`echo off`).stdout, 'off\n');
    assert.equal(statSync(off).size, 0, 'nothing recorded');
    await o.close();
  });

  test('one master a host, in a private folder (mode 0700, short socket paths); close() stops it and removes the folder', async () => {
    const own = sshFor(fleet);
    const s = own(targetOf(fleet, fleet.host('h01'), { transport: 'openssh' }));
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s`echo ${i}`));
    assert.deepEqual(
      results.map((r) => r.stdout),
      Array.from({ length: 8 }, (_, i) => `${i}\n`),
    );
    // Through its explicit options too (no ssh_config): the same pool, one more master.
    const d = own(directOf(fleet, fleet.host('h02'), { transport: 'openssh' }));
    assert.equal((await d`echo direct`).stdout, 'direct\n');
    const folder = own.pool.masters.folder!;
    assert.ok(folder, 'a folder was made');
    assert.equal(statSync(folder).mode & 0o777, 0o700);
    assert.ok(folder.length + 1 + 24 + 17 < 104, `socket paths fit: ${folder}`);
    assert.equal(own.pool.masters.size, 2);
    const masters = pgrep(folder);
    assert.equal(masters.length, 2, `one master process a host: ${masters.join('; ')}`);
    assert.equal(own.pool.stats().handshakes, 0, 'no ssh2 connection');
    await own.close();
    assert.deepEqual(pgrep(folder), [], 'no master left');
    assert.equal(existsSync(folder), false, 'the folder is gone');
  });

  test('a master killed with SIGKILL (its socket left behind) is replaced by the next command', async () => {
    const own = sshFor(fleet);
    try {
      const s = own(targetOf(fleet, fleet.host('h01'), { transport: 'openssh' }));
      assert.equal((await s`echo one`).stdout, 'one\n');
      const folder = own.pool.masters.folder!;
      const [master] = pgrep(folder);
      assert.ok(master, 'the master runs');
      process.kill(Number(master.split(' ')[0]), 'SIGKILL');
      while (pgrep(folder).length > 0) await new Promise((r) => setTimeout(r, 20));
      assert.ok(readdirSync(folder).length > 0, 'its socket is left behind');
      const two = await s`echo two`;
      assert.equal(two.stdout, 'two\n');
      assert.equal(pgrep(folder).length, 1, 'one new master');
    } finally {
      await own.close();
    }
  });

  test('secrets the system ssh would have to ask for on a terminal are refused, naming the way out', async () => {
    for (const [extra, what] of [
      [{ password: 'secret-Xy7' }, /cannot take a password.*transport 'ssh2'/s],
      [{ passphrase: 'secret-Xy7' }, /passphrase.*ssh-add/s],
      [{ privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n' }, /privateKey as a key file path/],
    ] as const) {
      const e = await openssh('h01', extra)`true`.then(
        () => assert.fail('expected a usage error'),
        (err: unknown) => err,
      );
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, /^h01: the OpenSSH transport/);
      assert.match(e.message, what);
      assert.ok(!e.message.includes('secret-Xy7'), 'no secret shown');
    }
  });

  test('a key and known_hosts in a folder named with %, a space, a quote and a backslash: ssh reads those files, not others its tokens name', async () => {
    // ssh expands %d (the home folder) in IdentityFile and UserKnownHostsFile: unescaped, this
    // folder's name would point at another file and the login fail.
    const odd = join(fleet.dir, 'keys %d "q" \\ #1');
    mkdirSync(odd);
    const key = join(odd, 'id');
    copyFileSync(fleet.clientKeyPath, key);
    chmodSync(key, 0o600);
    const known = join(odd, 'known_hosts');
    copyFileSync(fleet.knownHostsPath, known);
    const own = sshFor(fleet);
    try {
      const s = own(
        directOf(fleet, fleet.host('h01'), {
          transport: 'openssh',
          privateKey: key,
          knownHosts: known,
          hostKeyPolicy: 'strict',
          connectTimeout: '5s',
        }),
      );
      assert.equal((await s`echo odd`).stdout, 'odd\n');
    } finally {
      await own.close();
    }
  });

  test('tunnels are refused over it with a UsageError naming the transport', async () => {
    const s = openssh('h01');
    for (const attempt of [() => s.tunnel({ remoteHost: '127.0.0.1', remotePort: 22 })]) {
      await assert.rejects(attempt(), (e: UsageError) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.match(
          e.message,
          /^h01: .* is not available over the OpenSSH transport \(transport 'openssh'\)/,
        );
        return true;
      });
    }
  });
});
