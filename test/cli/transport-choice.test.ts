// The automatic choice of transport from the CLI, against a real sshd that admits only a user
// certificate (test/harness/certs.ts): `fleetsh run` reaches it without being told how, directly
// and through the agent; -v says which transport and why; `copy` and `pull` go over the same
// master; --dry-run shows the reason with its file.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCertHost, type CertHost } from '../harness/certs.js';
import { sshdAvailable } from '../harness/sshd.js';
import { ensureBuilt, fleetsh, scratch, type CliOptions } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('the transport chosen for a certificate host, from the CLI', { skip, timeout: 180_000 }, () => {
  let ca: CertHost;
  const tmp = scratch();
  const opts = (extra: CliOptions = {}): CliOptions => ({
    timeoutMs: 60_000,
    ...extra,
    env: { FLEETSH_STATE_FILE: tmp.stateFile, ...extra.env },
  });
  before(async () => {
    ensureBuilt();
    ca = await startCertHost();
  });
  after(async () => {
    await ca?.stop();
    tmp.cleanup();
  });

  test('run reaches it through the OpenSSH transport; -v says why, naming the certificate and its file', async () => {
    const r = await fleetsh(['run', '-F', ca.sshConfigPath, '-w', 'cert-user', '-v', '--', 'id -un'], opts());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`cert-user: ${ca.user}`));
    assert.ok(
      r.stderr.includes(
        `fleetsh: cert-user: transport openssh, because its ssh_config asks for a user certificate (CertificateFile ${ca.clientCertPath}, ${ca.sshConfigPath}`,
      ),
      r.stderr,
    );
    const quiet = await fleetsh(['run', '-F', ca.sshConfigPath, '-w', 'cert-user', '--', 'true'], opts());
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '', 'no notice without -v');
  });

  test('--transport ssh2 forces ssh2: the host is unreachable (auth), naming the certificate and the transport that would work', async () => {
    const r = await fleetsh(
      ['run', '-F', ca.sshConfigPath, '-w', 'cert-user', '--transport', 'ssh2', '-v', '--', 'true'],
      opts(),
    );
    assert.notEqual(r.code, 0);
    const all = r.stdout + r.stderr;
    assert.ok(all.includes(`CertificateFile ${ca.clientCertPath}`), all);
    assert.match(all, /which the ssh2 transport cannot use/);
    assert.match(
      r.stderr,
      /fleetsh: cert-user: transport ssh2 \(the transport option\), though its ssh_config asks for a user certificate/,
    );
  });

  test('copy and pull go over it too', async () => {
    const src = join(tmp.dir, 'payload.txt');
    writeFileSync(src, 'certified\n');
    const remote = join(tmp.dir, 'remote-payload.txt');
    const copy = await fleetsh(['copy', '-F', ca.sshConfigPath, '-w', 'cert-user', src, remote], opts());
    assert.equal(copy.code, 0, copy.stderr + copy.stdout);
    assert.equal(readFileSync(remote, 'utf8'), 'certified\n');
    const pulled = join(tmp.dir, 'pulled');
    const pull = await fleetsh(['pull', '-F', ca.sshConfigPath, '-w', 'cert-user', remote, pulled], opts());
    assert.equal(pull.code, 0, pull.stderr + pull.stdout);
    assert.equal(readFileSync(join(pulled, 'cert-user', 'remote-payload.txt'), 'utf8'), 'certified\n');
  });

  test('--dry-run shows the transport and what in ssh_config chose it', async () => {
    const r = await fleetsh(
      ['run', '-F', ca.sshConfigPath, '-w', 'cert-user', '--dry-run', '--', 'true'],
      opts(),
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(
      r.stdout,
      /transport +openssh: the system ssh.*\n +chosen for what its ssh_config asks and ssh2 cannot do:/,
    );
    assert.ok(r.stdout.includes(`a user certificate: CertificateFile ${ca.clientCertPath}`), r.stdout);
  });

  test('through the agent: the agent runs it over the OpenSSH transport', async () => {
    const runtime = mkdtempSync(join(tmpdir(), 'fleetsh-agent-xdg-'));
    chmodSync(runtime, 0o700);
    const agent = { env: { FLEETSH_NO_AGENT: '', XDG_RUNTIME_DIR: runtime } };
    try {
      const r = await fleetsh(
        ['run', '-F', ca.sshConfigPath, '-w', 'cert-user', '--', 'id -un'],
        opts(agent),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`cert-user: ${ca.user}`));
      assert.equal(r.stderr, '', 'the agent served it (no note about connecting directly)');
    } finally {
      const lock = join(runtime, 'fleetsh', 'agent.lock');
      if (existsSync(lock)) {
        const pid = Number(readFileSync(lock, 'utf8'));
        await fleetsh(['agent', 'stop'], opts({ ...agent, timeoutMs: 10_000 }));
        try {
          if (pid > 0) process.kill(pid, 'SIGKILL');
        } catch {
          // stopped
        }
      }
      rmSync(runtime, { recursive: true, force: true });
    }
  });
});
