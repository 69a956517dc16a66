// What a host's ssh_config needs from OpenSSH (openssh-needs.ts), read from real files: certificates
// named or beside a key, security keys told by their .pub or their private key file's header,
// GSSAPI, Match exec blocks that could apply, KnownHostsCommand and PKCS11Provider, a host known
// only by a CA, and a jump host's needs. Against real sshd: test/ssh/openssh/certificates.test.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { keyType, opensshPrivateKeyType } from '../../src/ssh/openssh-needs.js';
import { resolveTarget, type ResolveContext } from '../../src/ssh/resolve.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetsh-needs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ctx: ResolveContext = { homedir: dir, localUser: 'me', env: {}, systemConfigFile: false };

function file(name: string, text: string | Buffer, mode = 0o600): string {
  const p = path.join(dir, name);
  writeFileSync(p, text, { mode });
  return p;
}

const str = (b: Buffer | string) => {
  const data = Buffer.isBuffer(b) ? b : Buffer.from(b);
  const n = Buffer.alloc(4);
  n.writeUInt32BE(data.length);
  return Buffer.concat([n, data]);
};

/** An openssh-key-v1 private key file holding a public key of `type` (the private part is junk). */
function opensshKeyFile(type: string): string {
  const pub = Buffer.concat([str(type), str(Buffer.alloc(32, 7)), str('ssh:')]);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  const blob = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    str('none'),
    str('none'),
    str(''),
    count,
    str(pub),
    str(Buffer.alloc(64, 1)),
  ]);
  const b64 = blob.toString('base64').replace(/.{70}/g, '$&\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

const needsOf = async (config: string, host = 'h') =>
  (await resolveTarget({ host, sshConfig: file(`${host}.conf`, config) }, ctx)).opensshNeeds;

describe('what a host needs from OpenSSH', () => {
  test('a key type from the .pub, else from an OpenSSH private key file; other formats give none', async () => {
    const real = path.join(dir, 'real_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', real]);
    assert.equal(await keyType(real), 'ssh-ed25519');
    rmSync(`${real}.pub`);
    assert.equal(await keyType(real), 'ssh-ed25519', 'read from the private key file');
    assert.equal(
      opensshPrivateKeyType(opensshKeyFile('sk-ssh-ed25519@openssh.com')),
      'sk-ssh-ed25519@openssh.com',
    );
    assert.equal(
      opensshPrivateKeyType('-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n'),
      undefined,
    );
    assert.equal(
      opensshPrivateKeyType('-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n'),
      undefined,
      'truncated',
    );
    assert.equal(await keyType(path.join(dir, 'missing')), undefined);
  });

  test('a host with none of them needs nothing', async () => {
    const key = file('plain_key', opensshKeyFile('ssh-ed25519'));
    assert.deepEqual(
      await needsOf(`Host h\n  IdentityFile ${key}\n  GSSAPIAuthentication no\n  PKCS11Provider none\n`),
      [],
    );
  });

  test('CertificateFile, a -cert.pub beside the key, and sk- keys (by .pub and by header), with their files', async () => {
    const key = file('id_cert', opensshKeyFile('ssh-ed25519'));
    file('id_cert-cert.pub', 'ssh-ed25519-cert-v01@openssh.com AAAA x\n');
    const skByHeader = file('id_sk_header', opensshKeyFile('sk-ecdsa-sha2-nistp256@openssh.com'));
    const skByPub = file('id_sk_pub', 'not a key at all');
    file('id_sk_pub.pub', 'sk-ssh-ed25519@openssh.com AAAA me@host\n');
    const conf = `Host h\n  CertificateFile ~/certs/c.pub\n  IdentityFile ${key}\n  IdentityFile ${skByHeader}\n  IdentityFile ${skByPub}\n`;
    const needs = await needsOf(conf);
    const confFile = path.join(dir, 'h.conf');
    assert.deepEqual(
      needs.map((n) => [n.keyword, n.value, n.file]),
      [
        ['CertificateFile', path.join(dir, 'certs', 'c.pub'), confFile],
        ['IdentityFile', `${key}-cert.pub`, confFile],
        ['IdentityFile', skByHeader, confFile],
        ['IdentityFile', skByPub, confFile],
      ],
    );
    assert.match(needs[2]!.feature, /security key \(sk-ecdsa-sha2-nistp256@openssh\.com\)/);
    assert.deepEqual(
      needs.map((n) => n.line),
      [2, 3, 4, 5],
      'each with its line',
    );
  });

  test('the privateKey option names an sk- key: the need names the option', async () => {
    const sk = file('opt_sk', opensshKeyFile('sk-ssh-ed25519@openssh.com'));
    const r = await resolveTarget({ host: 'h', sshConfig: false, privateKey: sk }, ctx);
    assert.equal(r.opensshNeeds.length, 1);
    assert.match(r.opensshNeeds[0]!.file, /privateKey option/);
  });

  test("GSSAPIAuthentication yes in the system's ssh_config (Debian's default) does not count; in the user's it does", async () => {
    const etc = path.join(dir, 'etc-ssh');
    mkdirSync(path.join(etc, 'ssh_config.d'), { recursive: true });
    const system = path.join(etc, 'ssh_config');
    writeFileSync(system, `Include ${etc}/ssh_config.d/*.conf\nHost *\n  GSSAPIAuthentication yes\n`);
    writeFileSync(path.join(etc, 'ssh_config.d', 'x.conf'), 'Host *\n  GSSAPIAuthentication yes\n');
    const withSystem = { ...ctx, systemConfigFile: system };
    assert.deepEqual((await resolveTarget({ host: 'h' }, withSystem)).opensshNeeds, []);
    // This machine's own /etc/ssh/ssh_config, whatever it says.
    assert.deepEqual(
      (
        await resolveTarget({ host: 'h' }, { ...ctx, systemConfigFile: '/etc/ssh/ssh_config' })
      ).opensshNeeds.filter((n) => n.keyword === 'GSSAPIAuthentication'),
      [],
    );
    mkdirSync(path.join(dir, '.ssh'), { recursive: true });
    writeFileSync(path.join(dir, '.ssh', 'config'), 'Host kerb\n  GSSAPIAuthentication yes\n');
    const needs = (await resolveTarget({ host: 'kerb' }, withSystem)).opensshNeeds;
    assert.deepEqual(
      needs.map((n) => [n.keyword, n.file]),
      [['GSSAPIAuthentication', path.join(dir, '.ssh', 'config')]],
    );
    rmSync(path.join(dir, '.ssh', 'config'));
  });

  test('GSSAPIAuthentication yes, KnownHostsCommand and PKCS11Provider', async () => {
    const needs = await needsOf(
      'Host h\n  GSSAPIAuthentication yes\n  KnownHostsCommand /usr/bin/get-keys %H\n  PKCS11Provider /usr/lib/opensc-pkcs11.so\n',
    );
    assert.deepEqual(
      needs.map((n) => [n.keyword, n.value]),
      [
        ['GSSAPIAuthentication', 'yes'],
        ['KnownHostsCommand', '/usr/bin/get-keys %H'],
        ['PKCS11Provider', '/usr/lib/opensc-pkcs11.so'],
      ],
    );
  });

  test('a host known only through @cert-authority needs OpenSSH; a plain key line for it, or hostKeyPolicy off, does not', async () => {
    const ca = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    const kh = file('kh_ca', `@cert-authority *.example.com ${ca}\n`);
    const both = file('kh_both', `@cert-authority *.example.com ${ca}\nweb1.example.com ${ca}\n`);
    const target = (knownHosts: string, extra = {}) =>
      resolveTarget(
        { host: 'web1.example.com', sshConfig: false, knownHosts, ...extra },
        { ...ctx, globalKnownHostsFiles: [] },
      );
    const needs = (await target(kh)).opensshNeeds;
    assert.deepEqual(
      needs.map((n) => [n.keyword, n.file, n.line]),
      [['@cert-authority', kh, 1]],
    );
    assert.match(needs[0]!.feature, /host certificate/);
    assert.deepEqual((await target(both)).opensshNeeds, []);
    assert.deepEqual((await target(kh, { hostKeyPolicy: 'off' })).opensshNeeds, []);
  });

  test('what a jump host needs, the host behind it needs too', async () => {
    const conf = 'Host bastion\n  GSSAPIAuthentication yes\nHost inner\n  ProxyJump bastion\n';
    const needs = await needsOf(conf, 'inner');
    assert.equal(needs.length, 1);
    assert.equal(needs[0]!.keyword, 'GSSAPIAuthentication');
    assert.match(needs[0]!.feature, /for jump host bastion/);
  });

  test('a Match exec block counts when its other criteria apply to the host, and its command is never run', async () => {
    const marker = path.join(dir, 'exec-ran');
    const conf = `Match host other exec "touch ${marker}"\n  User x\nMatch host h* exec "touch ${marker}"\n  User y\n`;
    const needs = await needsOf(conf, 'h1');
    assert.deepEqual(
      needs.map((n) => [n.keyword, n.value]),
      [['Match exec', `touch ${marker}`]],
    );
    assert.deepEqual(await needsOf(conf, 'zz'), [], 'no block could apply to zz');
    assert.throws(() => execFileSync('test', ['-e', marker]));
  });
});
