import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ConnectionError } from '../../src/process/errors.js';
import {
  appendKnownHost,
  checkHostKey,
  entryMatchesName,
  hashHostName,
  knownHostKeyTypes,
  parseKnownHosts,
  preferKnownHostKeyAlgorithms,
  sshFingerprint,
  verifyHostKey,
  type HostKeyTarget,
} from '../../src/ssh/known-hosts.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetsh-known-hosts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Key {
  type: string;
  base64: string;
  blob: Buffer;
}

function makeKey(name: string, type: 'ed25519' | 'rsa' | 'ecdsa'): Key {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...(type === 'rsa' ? ['-b', '2048'] : []),
    '-N',
    '',
    '-f',
    file,
  ]);
  const [keyType, base64] = readFileSync(`${file}.pub`, 'utf8').split(' ') as [string, string];
  return { type: keyType, base64, blob: Buffer.from(base64, 'base64') };
}

const A = makeKey('a', 'ed25519');
const B = makeKey('b', 'ed25519');
const R = makeKey('r', 'rsa');
const E = makeKey('e', 'ecdsa');
const line = (hosts: string, k: Key) => `${hosts} ${k.type} ${k.base64}`;

let n = 0;
function knownHosts(...lines: string[]): string {
  const file = path.join(dir, `known_hosts_${++n}`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** OpenSSH's judgement: does `ssh-keygen -F name -f file` find a line for the name? */
function sshKeygenFinds(file: string, name: string): boolean {
  return spawnSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' }).stdout.trim() !== '';
}

describe('known_hosts entries', () => {
  test('plain names, comma lists, comments and blank lines; line numbers count every line', async () => {
    const file = knownHosts('# a comment', '', line('web1,web2,10.0.0.1', A), '   ' + line('db1', B));
    assert.deepEqual(await checkHostKey({ files: [file], names: 'web2', keyBlob: A.blob }), {
      status: 'match',
      file,
      line: 3,
    });
    assert.deepEqual(await checkHostKey({ files: [file], names: '10.0.0.1', keyBlob: A.blob }), {
      status: 'match',
      file,
      line: 3,
    });
    assert.deepEqual(await checkHostKey({ files: [file], names: 'db1', keyBlob: A.blob }), {
      status: 'changed',
      file,
      line: 4,
      knownType: 'ssh-ed25519',
    });
    assert.deepEqual(await checkHostKey({ files: [file], names: 'web3', keyBlob: A.blob }), {
      status: 'unknown',
    });
    assert.deepEqual(await checkHostKey({ files: [file], names: 'WEB1', keyBlob: A.blob }), {
      status: 'match',
      file,
      line: 3,
    });
  });

  test('[host]:port is a different name from host', async () => {
    const file = knownHosts(line('[web1]:2222', A), line('web1', B));
    assert.equal(
      (await checkHostKey({ files: [file], names: '[web1]:2222', keyBlob: A.blob })).status,
      'match',
    );
    assert.equal(
      (await checkHostKey({ files: [file], names: '[web1]:2222', keyBlob: B.blob })).status,
      'changed',
    );
    assert.equal((await checkHostKey({ files: [file], names: 'web1', keyBlob: B.blob })).status, 'match');
    assert.equal(
      (await checkHostKey({ files: [file], names: '[web1]:2223', keyBlob: A.blob })).status,
      'unknown',
    );
  });

  test('wildcards and negation', async () => {
    const file = knownHosts(
      line('*.example.com,!evil.example.com', A),
      line('web?.prod', B),
      line('[10.0.0.*]:2222', R),
    );
    const check = async (name: string, k: Key) =>
      (await checkHostKey({ files: [file], names: name, keyBlob: k.blob })).status;
    assert.equal(await check('www.example.com', A), 'match');
    assert.equal(await check('evil.example.com', A), 'unknown');
    assert.equal(await check('web1.prod', B), 'match');
    assert.equal(await check('web12.prod', B), 'unknown');
    assert.equal(await check('[10.0.0.7]:2222', R), 'match');
    for (const name of [
      'www.example.com',
      'evil.example.com',
      'web1.prod',
      'web12.prod',
      '[10.0.0.7]:2222',
      '10.0.0.7',
    ]) {
      const ours = parseKnownHosts(readFileSync(file, 'utf8'), file).entries.some((e) =>
        entryMatchesName(e.hosts, name),
      );
      assert.equal(ours, sshKeygenFinds(file, name), `ssh-keygen -F ${name} disagrees`);
    }
  });

  test('hashed entries made by ssh-keygen -H, judged as ssh-keygen -F judges them', async () => {
    const file = knownHosts(line('web1,10.0.0.1', A), line('[db1]:2222', B), line('other', R));
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    assert.ok(
      text
        .split('\n')
        .filter(Boolean)
        .every((l) => l.startsWith('|1|')),
      text,
    );
    for (const name of ['web1', '10.0.0.1', '[db1]:2222', 'db1', 'other', 'nothere']) {
      const ours = parseKnownHosts(text, file).entries.some((e) => entryMatchesName(e.hosts, name));
      assert.equal(ours, sshKeygenFinds(file, name), name);
    }
    assert.equal(
      (await checkHostKey({ files: [file], names: '[db1]:2222', keyBlob: B.blob })).status,
      'match',
    );
    assert.equal((await checkHostKey({ files: [file], names: 'web1', keyBlob: B.blob })).status, 'changed');
    const ours = knownHosts(`${hashHostName('mine')} ${A.type} ${A.base64}`);
    assert.ok(sshKeygenFinds(ours, 'mine'), 'ssh-keygen finds a name we hashed');
  });

  test('a different key of another type is "changed" too (as ssh 9.2), reporting the last entry', async () => {
    const user = knownHosts(line('web1', R), line('web1', E));
    const global = knownHosts('# global', line('web1', B));
    assert.deepEqual(await checkHostKey({ files: [user, global], names: 'web1', keyBlob: A.blob }), {
      status: 'changed',
      file: global,
      line: 2,
      knownType: 'ssh-ed25519',
    });
    assert.equal(
      (await checkHostKey({ files: [user, global], names: 'web1', keyBlob: E.blob })).status,
      'match',
    );
    assert.deepEqual(await knownHostKeyTypes({ files: [user, global], names: 'web1' }), [
      'ssh-rsa',
      E.type,
      'ssh-ed25519',
    ]);
    assert.deepEqual(
      preferKnownHostKeyAlgorithms(
        ['ssh-rsa'],
        ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256'],
      ),
      ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-ed25519', 'ecdsa-sha2-nistp256'],
    );
  });

  test('@revoked wins over a match; it applies only to the hosts it names; @cert-authority is skipped', async () => {
    const file = knownHosts(
      line('web1', A),
      `@revoked * ${A.type} ${A.base64}`,
      `@revoked other ${B.type} ${B.base64}`,
    );
    assert.deepEqual(await checkHostKey({ files: [file], names: 'web1', keyBlob: A.blob }), {
      status: 'revoked',
      file,
      line: 2,
    });
    const scoped = knownHosts(line('web1', B), `@revoked other ${B.type} ${B.base64}`);
    assert.equal((await checkHostKey({ files: [scoped], names: 'web1', keyBlob: B.blob })).status, 'match');
    const ca = knownHosts(`@cert-authority *.example.com ${A.type} ${A.base64}`);
    assert.equal(
      (await checkHostKey({ files: [ca], names: 'h.example.com', keyBlob: A.blob })).status,
      'unknown',
    );
  });

  test('invalid lines are reported and skipped; missing files are skipped', async () => {
    const text = [
      'web1',
      `web1 ssh-rsa ${A.base64}`,
      `@bogus web1 ${A.type} ${A.base64}`,
      `1024 35 12345`,
      line('ok', A),
    ].join('\n');
    const parsed = parseKnownHosts(text, 'f');
    assert.deepEqual(
      parsed.entries.map((e) => e.hosts),
      ['ok'],
    );
    assert.deepEqual(
      parsed.invalid.map((i) => i.line),
      [1, 2, 3, 4],
    );
    const missing = path.join(dir, 'does-not-exist');
    assert.deepEqual(await checkHostKey({ files: [missing], names: 'x', keyBlob: A.blob }), {
      status: 'unknown',
    });
  });
});

describe('appendKnownHost', () => {
  test('creates the file 0600 and its folder 0700; the line is found by ssh-keygen -F', async () => {
    const file = path.join(dir, 'new-folder', 'known_hosts');
    assert.deepEqual(await appendKnownHost(file, '[Web1]:2222', A.type, A.blob), { status: 'added', file });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.equal(readFileSync(file, 'utf8'), `[web1]:2222 ${A.type} ${A.base64}\n`);
    assert.ok(sshKeygenFinds(file, '[web1]:2222'));
  });

  test('100 concurrent calls for 100 hosts write 100 well-formed lines', async () => {
    const file = path.join(dir, 'concurrent-many');
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        appendKnownHost(file, `host${i}.example.com`, A.type, i % 2 ? A.blob : R.blob),
      ),
    );
    assert.ok(results.every((r) => r.status === 'added'));
    const parsed = parseKnownHosts(readFileSync(file, 'utf8'), file);
    assert.equal(parsed.entries.length, 100);
    assert.equal(parsed.invalid.length, 0);
    assert.deepEqual(new Set(parsed.entries.map((e) => e.hosts)).size, 100);
    for (let i = 0; i < 100; i++) {
      const status = (
        await checkHostKey({ files: [file], names: `host${i}.example.com`, keyBlob: i % 2 ? A.blob : R.blob })
      ).status;
      assert.equal(status, 'match');
    }
  });

  test('100 concurrent calls for the same host write 1 line', async () => {
    const file = path.join(dir, 'concurrent-same');
    const results = await Promise.all(
      Array.from({ length: 100 }, () => appendKnownHost(file, 'same', A.type, A.blob)),
    );
    assert.equal(results.filter((r) => r.status === 'added').length, 1);
    assert.equal(results.filter((r) => r.status === 'match').length, 99);
    assert.equal(readFileSync(file, 'utf8').split('\n').filter(Boolean).length, 1);
  });

  test('a different key recorded meanwhile is reported, not appended; a missing final newline is added', async () => {
    const file = path.join(dir, 'race');
    writeFileSync(file, line('first', A)); // no trailing newline
    const [one, two] = await Promise.all([
      appendKnownHost(file, 'h', A.type, A.blob),
      appendKnownHost(file, 'h', B.type, B.blob),
    ]);
    assert.equal(one.status, 'added');
    assert.deepEqual(two, { status: 'changed', file, line: 2, knownType: 'ssh-ed25519' });
    assert.equal(readFileSync(file, 'utf8'), `${line('first', A)}\n${line('h', A)}\n`);
  });

  test('hashed lines, one per name', async () => {
    const file = path.join(dir, 'hashed');
    await appendKnownHost(file, ['web9', '10.9.9.9'], A.type, A.blob, { hash: true });
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => l.startsWith('|1|')));
    assert.ok(sshKeygenFinds(file, 'web9') && sshKeygenFinds(file, '10.9.9.9'));
  });
});

describe('host key policy and messages', () => {
  const target = (
    file: string,
    policy: HostKeyTarget['hostKeyPolicy'],
    extra: Partial<HostKeyTarget> = {},
  ): HostKeyTarget => ({
    label: 'web1:2222',
    hostname: 'web1',
    port: 2222,
    hostKeyAlias: undefined,
    knownHostsName: '[web1]:2222',
    knownHostsFiles: [file, '/nonexistent/global'],
    userKnownHostsFiles: [file],
    hostKeyPolicy: policy,
    hashKnownHosts: false,
    ...extra,
  });

  test('strict: an unknown host fails with the fingerprint and how to add it', async () => {
    const file = path.join(dir, 'policy-strict');
    await assert.rejects(verifyHostKey(target(file, 'strict'), A.blob), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.kind, 'unknown-host-key');
      assert.equal(e.host, 'web1:2222');
      assert.ok(e.message.includes(sshFingerprint(A.blob)));
      assert.ok(e.message.includes(`ssh-keyscan -p 2222 web1 >> ${file}`), e.message);
      assert.match(e.message, /hostKeyPolicy: 'accept-new'/);
      return true;
    });
    const aliased = target(file, 'strict', { hostKeyAlias: 'myalias', knownHostsName: 'myalias' });
    await assert.rejects(verifyHostKey(aliased, A.blob), /sed 's\/\^\[\^ \]\*\/myalias\/'/);
  });

  test('accept-new records a new host, then matches; a changed key still fails, naming file:line', async () => {
    const file = path.join(dir, 'policy-new');
    writeFileSync(file, '# header\n');
    assert.deepEqual(await verifyHostKey(target(file, 'accept-new'), A.blob), { status: 'added', file });
    assert.deepEqual(await verifyHostKey(target(file, 'accept-new'), A.blob), {
      status: 'match',
      file,
      line: 2,
    });
    await assert.rejects(verifyHostKey(target(file, 'accept-new'), B.blob), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.kind, 'changed-host-key');
      assert.ok(e.message.includes(`${file}:2`), e.message);
      assert.ok(e.message.includes(`ssh-keygen -R '[web1]:2222' -f ${file}`), e.message);
      assert.ok(e.message.includes(sshFingerprint(B.blob)));
      return true;
    });
  });

  test('revoked fails under strict and accept-new; off accepts but marks a changed key unsafe', async () => {
    const file = knownHosts(line('[web1]:2222', A), `@revoked * ${B.type} ${B.base64}`);
    for (const policy of ['strict', 'accept-new'] as const) {
      await assert.rejects(verifyHostKey(target(file, policy), B.blob), (e: unknown) => {
        assert.ok(e instanceof ConnectionError);
        assert.match(e.message, /@revoked/);
        assert.ok(e.message.includes(`${file}:2`));
        return true;
      });
    }
    const off = await verifyHostKey(target(file, 'off'), R.blob);
    assert.equal(off.status, 'accepted');
    assert.equal(off.status === 'accepted' && off.unsafe, true);
    const unknown = await verifyHostKey(target(path.join(dir, 'policy-off-empty'), 'off'), R.blob);
    assert.deepEqual(unknown, { status: 'accepted', check: { status: 'unknown' }, unsafe: false });
    assert.throws(() => statSync(path.join(dir, 'policy-off-empty')), 'off records nothing');
  });
});
