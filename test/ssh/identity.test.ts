import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ConnectionError } from '../../src/process/errors.js';
import { loadIdentities, parsePrivateKey } from '../../src/ssh/identity.js';
import { resolveTarget, type ResolveContext } from '../../src/ssh/resolve.js';
import type { SshTargetOptions } from '../../src/ssh/types.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetsh-identity-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PASSPHRASE = 'correct horse battery staple';
const WRONG = 'wrong-passphrase-7f3a';

function makeKey(
  name: string,
  type: 'ed25519' | 'rsa' | 'ecdsa',
  options: { passphrase?: string; pem?: boolean } = {},
): string {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...(type === 'rsa' ? ['-b', '2048'] : []),
    ...(options.pem ? ['-m', 'PEM'] : []),
    '-N',
    options.passphrase ?? '',
    '-C',
    name,
    '-f',
    file,
  ]);
  return file;
}

const keys = {
  ed25519: makeKey('ed25519', 'ed25519'),
  ed25519Encrypted: makeKey('ed25519-enc', 'ed25519', { passphrase: PASSPHRASE }),
  rsa: makeKey('rsa', 'rsa'),
  rsaEncrypted: makeKey('rsa-enc', 'rsa', { passphrase: PASSPHRASE }),
  rsaPem: makeKey('rsa-pem', 'rsa', { pem: true }),
  rsaPemEncrypted: makeKey('rsa-pem-enc', 'rsa', { pem: true, passphrase: PASSPHRASE }),
  ecdsa: makeKey('ecdsa', 'ecdsa'),
};

function publicBlob(file: string): Buffer {
  return Buffer.from(readFileSync(`${file}.pub`, 'utf8').split(' ')[1]!, 'base64');
}

const home = path.join(dir, 'home');
mkdirSync(path.join(home, '.ssh'), { recursive: true });
const ctx: ResolveContext = { homedir: home, localUser: 'me', env: {}, systemConfigFile: false };

async function load(options: Partial<SshTargetOptions>) {
  const target = await resolveTarget({ host: 'web1', username: 'deploy', sshConfig: false, ...options }, ctx);
  return loadIdentities(target);
}

async function assertAuthError(
  promise: Promise<unknown>,
  file: string,
  secret?: string,
): Promise<ConnectionError> {
  let error: unknown;
  await assert.rejects(promise, (e: unknown) => {
    error = e;
    return true;
  });
  assert.ok(error instanceof ConnectionError, String(error));
  assert.equal(error.kind, 'auth');
  assert.equal(error.host, 'web1');
  assert.ok(error.message.includes(file), error.message);
  assert.ok(error.message.includes('deploy@web1'), error.message);
  assert.ok(error.hint, 'says what to do');
  if (secret !== undefined) {
    for (const text of [error.message, error.hint ?? '', error.stack ?? '', JSON.stringify(error)]) {
      assert.ok(!text.includes(secret), `the passphrase leaked: ${text}`);
    }
  }
  return error;
}

describe('loading identities', () => {
  const cases: Array<[string, string, string | undefined, string]> = [
    ['unencrypted ed25519 (OpenSSH format)', keys.ed25519, undefined, 'ssh-ed25519'],
    ['encrypted ed25519 (OpenSSH format)', keys.ed25519Encrypted, PASSPHRASE, 'ssh-ed25519'],
    ['unencrypted rsa (OpenSSH format)', keys.rsa, undefined, 'ssh-rsa'],
    ['encrypted rsa (OpenSSH format)', keys.rsaEncrypted, PASSPHRASE, 'ssh-rsa'],
    ['PEM rsa', keys.rsaPem, undefined, 'ssh-rsa'],
    ['encrypted PEM rsa', keys.rsaPemEncrypted, PASSPHRASE, 'ssh-rsa'],
    ['ecdsa', keys.ecdsa, undefined, 'ecdsa-sha2-nistp256'],
  ];
  for (const [name, file, passphrase, type] of cases) {
    test(name, async () => {
      const { keys: loaded, skipped } = await load({
        privateKey: file,
        ...(passphrase ? { passphrase } : {}),
      });
      assert.equal(skipped.length, 0);
      assert.equal(loaded.length, 1);
      const [identity] = loaded;
      assert.equal(identity!.type, type);
      assert.equal(identity!.source.path, file);
      assert.ok(identity!.key.isPrivateKey());
      assert.deepEqual(identity!.publicKey, publicBlob(file));
      const signature = identity!.key.sign(Buffer.from('data'));
      assert.ok(identity!.key.verify(Buffer.from('data'), signature));
    });
  }

  test('a key given as text or as a Buffer', async () => {
    const text = readFileSync(keys.ed25519, 'utf8');
    for (const privateKey of [text, Buffer.from(text)]) {
      const { keys: loaded } = await load({ privateKey });
      assert.equal(loaded[0]!.type, 'ssh-ed25519');
      assert.equal(loaded[0]!.source.path, undefined);
    }
  });

  test('ssh_config IdentityFile entries come in order, after the privateKey option', async () => {
    const config = path.join(dir, 'ids.conf');
    writeFileSync(config, `Host *\n  IdentityFile ${keys.rsa}\n  IdentityFile ${keys.ecdsa}\n`);
    const { keys: loaded } = await load({ privateKey: keys.ed25519, sshConfig: config });
    assert.deepEqual(
      loaded.map((k) => [k.type, k.source.origin]),
      [
        ['ssh-ed25519', 'option'],
        ['ssh-rsa', 'config'],
        ['ecdsa-sha2-nistp256', 'config'],
      ],
    );
  });
});

describe('identity errors', () => {
  test('a missing privateKey file is an auth error naming host, user and file', async () => {
    const missing = path.join(dir, 'no-such-key');
    const error = await assertAuthError(load({ privateKey: missing }), missing);
    assert.match(error.message, /no such file/);
  });

  test('a wrong passphrase is an auth error that never shows the passphrase', async () => {
    for (const file of [keys.ed25519Encrypted, keys.rsaEncrypted, keys.rsaPemEncrypted]) {
      const error = await assertAuthError(load({ privateKey: file, passphrase: WRONG }), file, WRONG);
      assert.match(error.message, /passphrase given does not decrypt/);
    }
  });

  test('an encrypted key without a passphrase is an auth error', async () => {
    for (const file of [keys.ed25519Encrypted, keys.rsaPemEncrypted]) {
      const error = await assertAuthError(load({ privateKey: file }), file);
      assert.match(error.message, /encrypted and no passphrase was given/);
      assert.match(error.hint ?? '', /ssh-add/);
    }
  });

  test('a public key file is not a private key', async () => {
    const file = `${keys.ed25519}.pub`;
    const error = await assertAuthError(load({ privateKey: file }), file);
    assert.match(error.message, /public key/);
  });

  test('parsePrivateKey throws the same errors', async () => {
    const about = {
      label: 'web1',
      user: 'deploy',
      hostname: 'web1',
      keyLabel: keys.rsaEncrypted,
      path: keys.rsaEncrypted,
    };
    await assert.rejects(
      () => parsePrivateKey(readFileSync(keys.rsaEncrypted), WRONG, about),
      (e: unknown) => {
        assert.ok(e instanceof ConnectionError && e.kind === 'auth');
        assert.ok(!e.message.includes(WRONG));
        return true;
      },
    );
    assert.equal((await parsePrivateKey(readFileSync(keys.rsaEncrypted), PASSPHRASE, about)).type, 'ssh-rsa');
  });

  test('keys from ssh_config or the default files that cannot be used are skipped, with their public half', async () => {
    const config = path.join(dir, 'skip.conf');
    const missing = path.join(dir, 'missing-from-config');
    writeFileSync(
      config,
      `Host *\n  IdentityFile ${missing}\n  IdentityFile ${keys.ed25519Encrypted}\n  IdentityFile ${keys.ed25519}\n`,
    );
    const { keys: loaded, skipped } = await load({ sshConfig: config });
    assert.deepEqual(
      loaded.map((k) => k.source.path),
      [keys.ed25519],
    );
    assert.deepEqual(
      skipped.map((s) => [s.source.path, s.reason]),
      [
        [missing, 'no such file'],
        [keys.ed25519Encrypted, 'encrypted and no passphrase was given'],
      ],
    );
    assert.deepEqual(skipped[1]!.publicKey, publicBlob(keys.ed25519Encrypted), 'the agent may hold it');
  });

  test('when every key was skipped and there is no agent or password, the error lists why', async () => {
    const config = path.join(dir, 'nothing.conf');
    writeFileSync(config, `Host *\n  IdentityFile ${keys.rsaEncrypted}\n`);
    const error = await assertAuthError(
      load({ sshConfig: config, passphrase: WRONG, agent: false }),
      keys.rsaEncrypted,
      WRONG,
    );
    assert.match(error.message, /the passphrase given does not decrypt it/);
    const withAgent = await load({ sshConfig: config, agent: '/tmp/agent.sock' });
    assert.equal(withAgent.keys.length, 0);
    assert.equal(withAgent.skipped.length, 1);
  });
});
