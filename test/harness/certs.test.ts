// The certificate harness against the system ssh client: the CA, the user and host certificates and
// the known_hosts lines do what sshd and ssh make of them, before fleetsh is tested against them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { startCertHost, type CertHost } from './certs.js';
import { sshdAvailable } from './sshd.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

function ssh(
  ca: CertHost,
  host: string,
  command: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [...ca.sshArgs, host, command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test(
  'the certificate host: a user certificate logs in, the bare key does not; @cert-authority accepts its host certificate',
  { skip, timeout: 60_000 },
  async () => {
    const ca = await startCertHost();
    const dir = ca.dir;
    try {
      const ok = await ssh(ca, 'cert-user', 'echo in');
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'in\n');
      const bare = await ssh(ca, 'no-cert', 'echo in');
      assert.equal(bare.code, 255);
      assert.match(bare.stderr, /Permission denied/);
      const viaCa = await ssh(ca, 'cert-host', 'echo in');
      assert.equal(viaCa.code, 0, viaCa.stderr);
      const noCa = await ssh(ca, 'cert-host-no-ca', 'echo in');
      assert.equal(noCa.code, 255);
      assert.match(noCa.stderr, /Host key verification failed|No ED25519 host key is known/);
    } finally {
      await ca.stop();
    }
    assert.equal(existsSync(dir), false, 'stop() removes the folder');
  },
);
