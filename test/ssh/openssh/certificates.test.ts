// Certificates against a real sshd that trusts a test CA (test/harness/certs.ts), and the automatic
// choice of transport: a host whose ssh_config names a user certificate logs in through the system
// ssh without being told to; told `transport: 'ssh2'`, it is refused with a message that names the
// certificate and the transport that would work (and one warning says so first). A host certificate
// is accepted through an @cert-authority line of known_hosts, and refused (a host-key failure)
// without one. A host that needs OpenSSH on a machine without ssh fails saying what to install.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sshConnect } from '../../../src/fleet/connect.js';
import { fleet } from '../../../src/index.js';
import { ConnectionError } from '../../../src/process/errors.js';
import { SshPool } from '../../../src/ssh/pool.js';
import { createSsh, type SshFunction } from '../../../src/ssh/shell.js';
import { transportChoice } from '../../../src/ssh/transport.js';
import { startCertHost, type CertHost } from '../../harness/certs.js';
import { sshdAvailable } from '../../harness/sshd.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('certificates', { skip, timeout: 120_000 }, () => {
  let ca: CertHost;
  let ssh: SshFunction;
  const warnings: string[] = [];
  before(async () => {
    ca = await startCertHost();
    ssh = createSsh(new SshPool({ onWarning: (m) => warnings.push(m) }), {
      homedir: ca.dir,
      env: {},
      systemConfigFile: false,
      globalKnownHostsFiles: [],
    });
  });
  after(async () => {
    await ssh?.close();
    await ca?.stop();
  });
  const target = (host: string, extra = {}) => ({ host, sshConfig: ca.sshConfigPath, ...extra });

  test('a user certificate (CertificateFile) logs in: the OpenSSH transport is chosen for it, and says why', async () => {
    const shell = ssh(target('cert-user'));
    const r = await shell`echo in; id -un`;
    assert.equal(r.stdout, `in\n${ca.user}\n`);
    const choice = transportChoice(await shell.resolve());
    assert.equal(choice.transport, 'openssh');
    assert.equal(choice.by, 'ssh-config');
    assert.deepEqual(
      choice.needs.map((n) => [n.keyword, n.value, n.file]),
      [['CertificateFile', ca.clientCertPath, ca.sshConfigPath]],
    );
    // The same through an explicit transport: 'openssh'.
    const explicit = await ssh(target('cert-user', { transport: 'openssh' }))`echo again`;
    assert.equal(explicit.stdout, 'again\n');
  });

  test("transport: 'ssh2' for the same host: refused, naming the certificate and the OpenSSH transport, after one warning", async () => {
    const err = await ssh(target('cert-user', { transport: 'ssh2' }))`true`.then(
      () => assert.fail('ssh2 logged in without a certificate'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectionError, String(err));
    assert.equal(err.kind, 'auth');
    assert.ok(err.message.includes(`CertificateFile ${ca.clientCertPath}`), err.message);
    assert.match(err.hint ?? '', /transport: 'openssh'/);
    const warned = warnings.filter((w) => w.includes("transport 'ssh2'"));
    assert.equal(warned.length, 1, warnings.join('\n'));
    assert.ok(warned[0]!.includes(ca.clientCertPath), warned[0]);
  });

  test("transport: 'ssh2' for a host known only through @cert-authority: an unknown key, naming the CA line and the transport that would check it", async () => {
    const err = await ssh(target('cert-host', { transport: 'ssh2' }))`true`.then(
      () => assert.fail('ssh2 accepted a key no known_hosts line holds'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectionError, String(err));
    assert.equal(err.kind, 'unknown-host-key');
    assert.ok(err.message.includes(`@cert-authority at ${ca.knownHostsCaPath}:1`), err.message);
    assert.match(err.hint ?? '', /transport: 'openssh'/);
  });

  test('a host certificate is accepted through @cert-authority in known_hosts, and refused without it', async () => {
    const ok = await ssh(target('cert-host'))`echo host-cert`;
    assert.equal(ok.stdout, 'host-cert\n');
    const err = await ssh(target('cert-host-no-ca'))`true`.then(
      () => assert.fail('a host no known_hosts line vouches for was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectionError, String(err));
    assert.equal(err.kind, 'unknown-host-key');
  });

  test("a dry run says which transport and why: the needs with their file, the CA's host key left to ssh", async () => {
    const plan = await fleet(
      [
        target('cert-user'),
        target('cert-host'),
        { ...target('cert-user', { transport: 'ssh2' }), name: 'forced' },
      ],
      { connect: sshConnect(ssh) },
    ).plan();
    const [user, host, forced] = plan.hosts.map((h) => h.connection!);
    assert.deepEqual(
      [user!.transport, user!.transportReason.by, forced!.transport, forced!.transportReason.by],
      ['openssh', 'ssh-config', 'ssh2', 'option'],
    );
    assert.equal(plan.hosts[0]!.status, 'ready');
    // Known only through @cert-authority: ssh checks the certificate at login, not the dry run.
    assert.equal(host!.hostKey.status, 'not-checked');
    assert.match(
      host!.hostKey.reason ?? '',
      /known_hosts trusts a certificate authority for it \(.*known_hosts\.ca:1\): ssh checks its key at login/,
    );
    assert.ok(host!.transportReason.needs.some((n) => n.keyword === '@cert-authority' && n.line === 1));
    const text = plan.toText();
    assert.match(
      text,
      /transport +openssh: the system ssh.*\n +chosen for what its ssh_config asks and ssh2 cannot do:/,
    );
    assert.ok(
      text.includes(`a user certificate: CertificateFile ${ca.clientCertPath} (${ca.sshConfigPath}`),
      text,
    );
    assert.match(text, /ssh2 \(the transport option\), though its ssh_config asks what ssh2 cannot do:/);
  });

  test('without ssh on the PATH, a host that needs it fails saying to install openssh-client', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await ssh(target('cert-user', { connectTimeout: '5s' }))`true`.then(
        () => assert.fail('ran without ssh'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConnectionError, String(err));
      assert.equal(err.kind, 'config');
      assert.match(err.message, /system ssh is not installed/);
      assert.match(err.message, /user certificate/);
      assert.match(err.hint ?? '', /openssh-client/);
    } finally {
      process.env.PATH = path;
    }
  });
});
