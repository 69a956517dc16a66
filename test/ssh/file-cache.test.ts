// Files read once for many connections (key files, known_hosts, ssh_config): the cache itself, and
// connections to real sshd that see a key file, a passphrase or known_hosts change between them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConnectionError } from '../../src/process/errors.js';
import { FileCache, RACY_MS } from '../../src/ssh/file-cache.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { directOf, sshFor } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetsh-file-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A clock past the racy window of every file written by this test. */
const later = () => Date.now() + 10 * RACY_MS;

/** A cache over one file that counts its reads. */
function counted(file: string, now?: () => number) {
  const cache = new FileCache<string>(256, now);
  let reads = 0;
  const get = () =>
    cache.get(file, statSync(file), async () => {
      reads++;
      return readFileSync(file, 'utf8');
    });
  return { get, reads: () => reads };
}

describe('FileCache', () => {
  test('a file left alone is read once, however often it is asked for', async () => {
    const file = path.join(dir, 'stable');
    writeFileSync(file, 'one');
    const c = counted(file, later);
    for (let i = 0; i < 5; i++) assert.equal(await c.get(), 'one');
    assert.equal(c.reads(), 1);
  });

  test('an edit of the same size with its mtime put back is read again', async () => {
    const file = path.join(dir, 'same-size');
    writeFileSync(file, 'aaaa');
    const c = counted(file, later);
    assert.equal(await c.get(), 'aaaa');
    const { atime, mtime } = statSync(file);
    writeFileSync(file, 'bbbb');
    utimesSync(file, atime, mtime); // size and mtime as before: the ctime moved
    assert.equal(await c.get(), 'bbbb');
    assert.equal(c.reads(), 2);
  });

  test('a file changed within the racy window is read by each caller, except during a read in flight', async () => {
    const file = path.join(dir, 'fresh');
    writeFileSync(file, 'x');
    const c = counted(file);
    assert.equal(await c.get(), 'x');
    assert.equal(await c.get(), 'x');
    assert.equal(c.reads(), 2, 'a fresh file is not trusted by its stat');
    const together = await Promise.all([c.get(), c.get(), c.get()]);
    assert.deepEqual(together, ['x', 'x', 'x']);
    assert.equal(c.reads(), 3, 'callers during one read share it');
  });

  test('a failed read is not kept', async () => {
    const file = path.join(dir, 'fails');
    writeFileSync(file, 'ok');
    const cache = new FileCache<string>(256, later);
    let calls = 0;
    const read = async () => {
      if (++calls === 1) throw new Error('boom');
      return 'ok';
    };
    await assert.rejects(cache.get(file, statSync(file), read), /boom/);
    assert.equal(await cache.get(file, statSync(file), read), 'ok');
    assert.equal(calls, 2);
  });
});

describe('connections see files edited between them (real sshd)', { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet({ healthy: 1 });
  });
  after(async () => {
    await fleet?.stop();
  });

  /** An ed25519 key sshd does not know. */
  function strangerKey(name: string): string {
    const file = path.join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stranger', '-f', file]);
    return file;
  }

  /** Runs `echo ok` over a connection of its own (a pool per call: nothing carried over but the caches). */
  async function run(extra: Parameters<typeof directOf>[2]): Promise<string> {
    const ssh = sshFor(fleet);
    try {
      return (await ssh(directOf(fleet, fleet.healthy[0]!, extra))`echo ok`).stdout;
    } finally {
      await ssh.close();
    }
  }

  async function rejectsWith(promise: Promise<unknown>, kind: string, text: RegExp): Promise<void> {
    await assert.rejects(promise, (e: unknown) => {
      assert.ok(e instanceof ConnectionError, String(e));
      assert.equal(e.kind, kind, e.message);
      assert.match(e.message, text);
      return true;
    });
  }

  test('a key file replaced on disk is read again by the next connection', async () => {
    const keyFile = path.join(dir, 'client-copy');
    copyFileSync(fleet.clientKeyPath, keyFile);
    execFileSync('ssh-keygen', ['-q', '-c', '-C', 'stranger', '-f', keyFile]); // the stranger's comment
    const good = readFileSync(keyFile);
    const stranger = readFileSync(strangerKey('stranger-key'));
    assert.equal(stranger.length, good.length, 'the same size: only the content tells them apart');
    assert.equal(await run({ privateKey: keyFile }), 'ok\n');
    const { atime, mtime } = statSync(keyFile);
    writeFileSync(keyFile, stranger);
    utimesSync(keyFile, atime, mtime);
    await rejectsWith(run({ privateKey: keyFile }), 'auth', /refused every identity/);
    writeFileSync(keyFile, good);
    assert.equal(await run({ privateKey: keyFile }), 'ok\n');
  });

  test('a key decrypted with one passphrase is not served to another, nor to none', async () => {
    const keyFile = path.join(dir, 'client-encrypted');
    copyFileSync(fleet.clientKeyPath, keyFile);
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'right passphrase', '-f', keyFile]);
    assert.equal(await run({ privateKey: keyFile, passphrase: 'right passphrase' }), 'ok\n');
    await rejectsWith(
      run({ privateKey: keyFile, passphrase: 'wrong passphrase' }),
      'auth',
      /the passphrase given does not decrypt/,
    );
    await rejectsWith(run({ privateKey: keyFile }), 'auth', /is encrypted and no passphrase was given/);
    assert.equal(await run({ privateKey: keyFile, passphrase: 'right passphrase' }), 'ok\n');
  });

  test('known_hosts edited between two connections is honoured by the next', async () => {
    const knownHosts = path.join(dir, 'known_hosts');
    const good = readFileSync(fleet.knownHostsPath, 'utf8');
    writeFileSync(knownHosts, good);
    const strict = { knownHosts, hostKeyPolicy: 'strict' as const };
    assert.equal(await run(strict), 'ok\n');

    // Another key of the same type (and length) for the same name: a changed host key.
    const strangerBlob = readFileSync(`${strangerKey('stranger-host')}.pub`, 'utf8').split(' ')[1]!;
    const changed = good.replace(/(ssh-ed25519 )(\S+)/, (_m, type: string) => type + strangerBlob);
    assert.equal(changed.length, good.length);
    assert.notEqual(changed, good);
    const { atime, mtime } = statSync(knownHosts);
    writeFileSync(knownHosts, changed);
    utimesSync(knownHosts, atime, mtime);
    await rejectsWith(run(strict), 'changed-host-key', new RegExp(`${knownHosts}:1`));

    writeFileSync(knownHosts, '');
    await rejectsWith(run(strict), 'unknown-host-key', /ssh-keyscan/);

    writeFileSync(knownHosts, good);
    assert.equal(await run(strict), 'ok\n');
  });
});
