// ssh2's client, changed to sign a loaded key's first request at once, to leave the host keys
// OpenSSH announces unproved and to give its curve25519 exchange raw keys: logins with every key type
// against real sshd, a refused key followed by the next, a raw ssh2 client's curve25519 exchange,
// and what the protocol object is given (with a stand-in for ssh2's protocol).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, diffieHellman, generateKeyPairSync, verify } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConnectionError } from '../../src/process/errors.js';
import { parsePrivateKey } from '../../src/ssh/identity.js';
import { loadSsh2 } from '../../src/ssh/ssh2-load.js';
import { toMpint, tuneProtocol } from '../../src/ssh/ssh2-protocol.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { directOf, sshFor } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetsh-ssh2-protocol-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function keygen(name: string, args: string[]): string {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', name, '-f', file]);
  return file;
}

const about = { label: 'web1', user: 'deploy', hostname: 'web1', keyLabel: 'test key' };

describe('logins that sign at once (real sshd)', { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet({ healthy: 1 });
  });
  after(async () => {
    await fleet?.stop();
  });

  async function echo(extra: Parameters<typeof directOf>[2]): Promise<string> {
    const ssh = sshFor(fleet);
    try {
      return (await ssh(directOf(fleet, fleet.healthy[0]!, extra))`echo ok`).stdout;
    } finally {
      await ssh.close();
    }
  }

  test('ed25519, ECDSA (P-256, P-384) and RSA (signed rsa-sha2-*) keys log in', async () => {
    const keys = [
      fleet.clientKeyPath,
      keygen('ecdsa256', ['-t', 'ecdsa', '-b', '256']),
      keygen('ecdsa384', ['-t', 'ecdsa', '-b', '384']),
      keygen('rsa', ['-t', 'rsa', '-b', '2048']),
      keygen('rsa-pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM']),
    ];
    const authorized = path.join(fleet.dir, 'authorized_keys');
    for (const key of keys.slice(1)) appendFileSync(authorized, readFileSync(`${key}.pub`));
    for (const key of keys) assert.equal(await echo({ privateKey: key }), 'ok\n', key);
  });

  test('a raw ssh2 client logs in through the replaced curve25519 exchange and runs a command', async () => {
    const { Client } = await loadSsh2();
    const host = fleet.healthy[0]!;
    const key = await parsePrivateKey(readFileSync(fleet.clientKeyPath), undefined, about);
    const client = new Client();
    try {
      const out = await new Promise<string>((resolve, reject) => {
        client.on('error', reject);
        client.on('ready', () => {
          const kex = (client as unknown as { _protocol: { _kex: object } })._protocol._kex;
          // ssh2's own methods live on its class; the replaced ones on the exchange itself.
          assert.ok(Object.hasOwn(kex, 'getPublicKey') && Object.hasOwn(kex, 'computeSecret'));
          client.exec('echo ok', (err, ch) => {
            if (err) return reject(err);
            let text = '';
            ch.on('data', (d: Buffer) => (text += d.toString()));
            ch.on('close', () => resolve(text));
          });
        });
        client.connect({
          host: host.address,
          port: host.port,
          username: fleet.user,
          privateKey: readFileSync(fleet.clientKeyPath),
          algorithms: { kex: ['curve25519-sha256'] },
          hostVerifier: () => true,
          readyTimeout: 20_000,
        });
        tuneProtocol(client, [key]);
      });
      assert.equal(out, 'ok\n');
    } finally {
      client.end();
    }
  });

  test('a key the server refuses is followed by the next one, which logs in', async () => {
    const stranger = keygen('stranger', ['-t', 'ed25519']);
    const config = path.join(dir, 'two-keys.conf');
    writeFileSync(
      config,
      `Host *\n  IdentityFile ${stranger}\n  IdentityFile ${fleet.clientKeyPath}\n  IdentitiesOnly yes\n`,
    );
    assert.equal(await echo({ privateKey: undefined, sshConfig: config }), 'ok\n');
    writeFileSync(config, `Host *\n  IdentityFile ${stranger}\n  IdentitiesOnly yes\n`);
    await assert.rejects(echo({ privateKey: undefined, sshConfig: config }), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.kind, 'auth');
      assert.ok(e.message.includes(stranger), e.message);
      return true;
    });
  });
});

describe('tuneProtocol', () => {
  /** A stand-in for the parts of ssh2's client protocol that tuneProtocol changes. */
  function fakeClient() {
    const calls: Array<{ key: unknown; keyAlgo?: string; sign?: unknown }> = [];
    const globals: string[] = [];
    let acknowledged = 0;
    const proto = {
      authPK(_user: string, key: unknown, keyAlgo?: string, sign?: unknown) {
        calls.push({ key, keyAlgo, sign });
      },
      _handlers: {
        GLOBAL_REQUEST: (_p: unknown, name: string, _wantReply: boolean, _data: unknown) => {
          globals.push(name);
        },
      },
    };
    const p = { requestSuccess: () => acknowledged++ };
    const client = { _protocol: proto, emit: () => true };
    return { client, proto, p, calls, globals, acknowledged: () => acknowledged };
  }

  async function signOf(sign: unknown): Promise<{ data: Buffer; signature: Buffer }> {
    const data = Buffer.from('session id and request');
    const signature = await new Promise<Buffer>((resolve) =>
      (sign as (d: Buffer, done: (s: Buffer) => void) => void)(data, resolve),
    );
    return { data, signature };
  }

  test('own keys sign their first request with the algorithm asked for; other keys are queried', async () => {
    await loadSsh2();
    const rsaFile = keygen('unit-rsa', ['-t', 'rsa', '-b', '2048']);
    const edFile = keygen('unit-ed25519', ['-t', 'ed25519']);
    const rsa = await parsePrivateKey(readFileSync(rsaFile), undefined, about);
    const ed = await parsePrivateKey(readFileSync(edFile), undefined, about);
    const stranger = { type: 'ssh-ed25519' };
    const f = fakeClient();
    tuneProtocol(f.client as never, [rsa, ed]);
    f.proto.authPK('deploy', ed, undefined);
    f.proto.authPK('deploy', rsa, 'rsa-sha2-512');
    f.proto.authPK('deploy', stranger, undefined);
    assert.equal(f.calls.length, 3);
    assert.equal(typeof f.calls[0]!.sign, 'function');
    assert.equal(typeof f.calls[1]!.sign, 'function');
    assert.equal(f.calls[1]!.keyAlgo, 'rsa-sha2-512');
    assert.equal(f.calls[2]!.sign, undefined, 'a key not loaded here (the agent) is queried');

    const edPub = createPublicKey(ed.getPublicPEM());
    const edSigned = await signOf(f.calls[0]!.sign);
    assert.ok(verify(null, edSigned.data, edPub, edSigned.signature));
    const rsaPub = createPublicKey(rsa.getPublicPEM());
    const rsaSigned = await signOf(f.calls[1]!.sign);
    assert.ok(verify('sha512', rsaSigned.data, rsaPub, rsaSigned.signature));
    assert.ok(!verify('sha256', rsaSigned.data, rsaPub, rsaSigned.signature));
  });

  test('a curve25519 exchange gets raw-key steps with the results of ssh2 DER ones; others are left alone', () => {
    const f = fakeClient();
    const proto = f.proto as typeof f.proto & { _kex?: unknown };
    tuneProtocol(f.client as never, []);
    const keys = generateKeyPairSync('x25519');
    const exchange = {
      type: '25519',
      _keys: keys,
      generateKeys() {},
      getPublicKey: () => Buffer.alloc(0),
      computeSecret: (_other: Buffer): Buffer | Error => Buffer.alloc(0),
    };
    proto._kex = exchange;
    assert.equal(proto._kex, exchange);
    const der = keys.publicKey.export({ type: 'spki', format: 'der' });
    assert.deepEqual(exchange.getPublicKey(), der.subarray(-32));
    const server = generateKeyPairSync('x25519');
    const serverRaw = server.publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
    const expected = toMpint(diffieHellman({ privateKey: keys.privateKey, publicKey: server.publicKey }));
    assert.deepEqual(exchange.computeSecret(serverRaw), expected);
    assert.ok(
      exchange.computeSecret(serverRaw.subarray(1)) instanceof Error,
      'a short key is an error, as in ssh2',
    );
    const other = { type: 'ecdh', _keys: null, generateKeys() {}, getPublicKey: () => Buffer.from('own') };
    proto._kex = other;
    assert.ok(!Object.hasOwn(other, 'computeSecret') && other.getPublicKey().toString() === 'own');
  });

  test('an SSH mpint: leading zeros go, a zero goes before a high bit', () => {
    assert.deepEqual(toMpint(Buffer.from([0, 0, 0x12, 0x34])), Buffer.from([0x12, 0x34]));
    assert.deepEqual(toMpint(Buffer.from([0, 0x92, 0x34])), Buffer.from([0, 0x92, 0x34]));
    assert.deepEqual(toMpint(Buffer.from([0x92])), Buffer.from([0, 0x92]));
    assert.deepEqual(toMpint(Buffer.from([0x12])), Buffer.from([0x12]));
  });

  test('the host keys announcement is acknowledged, not proved; other global requests go to ssh2', () => {
    const f = fakeClient();
    tuneProtocol(f.client as never, []);
    f.proto._handlers.GLOBAL_REQUEST(f.p, 'hostkeys-00@openssh.com', false, []);
    f.proto._handlers.GLOBAL_REQUEST(f.p, 'hostkeys-00@openssh.com', true, []);
    f.proto._handlers.GLOBAL_REQUEST(f.p, 'keepalive@openssh.com', true, []);
    assert.deepEqual(f.globals, ['keepalive@openssh.com']);
    assert.equal(f.acknowledged(), 1);
  });
});
