// ProxyCommand against real sshd: OpenSSH's own `ssh -W %h:%p bastion`, and a small TCP relay
// script; the proxy process ends with the connection; a proxy that fails says how, with its stderr,
// at once; and a script that never closes still exits.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConnectionError } from '../../src/process/errors.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { settlesWithin } from '../harness/settle.js';
import { sshFor } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The processes whose command line holds `marker`. */
function processesWith(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('ssh ProxyCommand', { skip }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  let work: string;
  let config: string;
  const marker = `fleetsh-proxy-${process.pid}`;
  before(async () => {
    fleet = await startFleet({ healthy: 3 });
    ssh = sshFor(fleet);
    work = mkdtempSync(path.join(tmpdir(), 'fleetsh-proxy-'));
    // A relay from stdin/stdout to host:port; the marker lets the test find it.
    const relay = path.join(work, 'relay.cjs');
    writeFileSync(
      relay,
      "const s = require('net').connect(Number(process.argv[3]), process.argv[2]);\n" +
        "s.on('error', (e) => { process.stderr.write(`relay: ${e.message}\\n`); process.exit(1); });\n" +
        'process.stdin.pipe(s).pipe(process.stdout);\n',
    );
    const [h0, h1, h2] = fleet.healthy;
    config = path.join(work, 'ssh_config');
    writeFileSync(
      config,
      [
        // First, so that it applies to every host (an Include under a Host line applies to that host only).
        `Include ${fleet.sshConfigPath}`,
        // Through OpenSSH itself: ssh -W to the next host via the first one, as operators write it.
        `Host ${h1!.name}`,
        `  ProxyCommand ssh -F ${fleet.sshConfigPath} -o BatchMode=yes -o SendEnv=${marker}-ssh -W %h:%p ${h0!.name}`,
        `Host ${h2!.name}`,
        `  ProxyCommand ${process.execPath} ${relay} %h %p ${marker}-relay`,
        // A proxy that starts and never carries a byte: the connect timeout ends it.
        'Host silent-proxy',
        `  ProxyCommand sh -c 'sleep 60' ${marker}-silent`,
        '  HostName 127.0.0.1',
        'Host broken-proxy',
        `  ProxyCommand sh -c 'echo no route to the bastion >&2; exit 3' ${marker}-broken`,
        '  HostName 127.0.0.1',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('ssh -W %h:%p through a bastion: the command runs on the target', async () => {
    const h1 = fleet.healthy[1]!;
    const s = ssh({ host: h1.name, sshConfig: config });
    const r = await s`echo $SSH_CONNECTION`;
    assert.equal(r.stdout.trim().split(' ')[2], h1.address, 'the server side is the target');
    assert.equal((await s.resolve()).proxyCommand?.includes(`-W ${h1.address}:${h1.port}`), true);
    assert.equal(processesWith(`${marker}-ssh`).length > 0, true, 'the proxy runs while connected');
    await s.close();
    await waitUntil(() => processesWith(`${marker}-ssh`).length === 0, 'the ssh proxy to end');
  });

  test('a relay script: commands, SFTP and many channels over one proxied connection', async () => {
    const h2 = fleet.healthy[2]!;
    const s = ssh({ host: h2.name, sshConfig: config });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => s`echo ${i}`));
    assert.deepEqual(
      results.map((r) => r.stdout),
      Array.from({ length: 20 }, (_, i) => `${i}\n`),
    );
    const file = path.join(work, 'up.txt');
    writeFileSync(file, 'through the relay\n');
    await s.uploadFile(file, path.join(work, 'up-remote.txt'));
    assert.equal((await s`cat ${path.join(work, 'up-remote.txt')}`).stdout, 'through the relay\n');
    assert.equal(ssh.pool.stats().handshakes >= 1, true);
    await s.close();
    await waitUntil(() => processesWith(`${marker}-relay`).length === 0, 'the relay to end');
  });

  test('a proxy that fails is named with its exit and stderr, at once and without retries', async () => {
    const t0 = performance.now();
    try {
      await ssh({ host: 'broken-proxy', sshConfig: config, connectTimeout: '8s' })`true`;
      assert.fail('expected a failure');
    } catch (e) {
      assert.ok(e instanceof ConnectionError, String(e));
      assert.equal(e.kind, 'protocol');
      assert.match(
        e.message,
        /^broken-proxy: .*ProxyCommand exited with status 3 before the SSH server spoke: no route to the bastion/,
      );
    }
    assert.ok(performance.now() - t0 < 4000, 'not retried for the connect timeout');
  });

  test('a proxy that never carries a byte: connect-timeout after connectTimeout, and the proxy is ended', async () => {
    const t0 = performance.now();
    await assert.rejects(
      settlesWithin(
        ssh({ host: 'silent-proxy', sshConfig: config, connectTimeout: '1s' })`true`,
        15_000,
        'the call',
      ),
      (e: ConnectionError) => e instanceof ConnectionError && e.kind === 'connect-timeout',
    );
    // Measured: 1.0-1.2 s under load; the margin is that of test/ssh/stalls.test.ts.
    assert.ok(performance.now() - t0 < 2500, `settled after ${Math.round(performance.now() - t0)} ms`);
    await waitUntil(() => processesWith(`${marker}-silent`).length === 0, 'the silent proxy to end');
  });

  test('a script that never calls close() still exits, and leaves no proxy behind', async () => {
    const h2 = fleet.healthy[2]!;
    const script = path.join(work, 'no-close.mts');
    writeFileSync(
      script,
      [
        `import { createSsh } from ${JSON.stringify(path.join(ROOT, 'src', 'ssh', 'shell.ts'))};`,
        `import { SshPool } from ${JSON.stringify(path.join(ROOT, 'src', 'ssh', 'pool.ts'))};`,
        `const ssh = createSsh(new SshPool({ idleTimeoutMs: 300 }), { homedir: ${JSON.stringify(fleet.dir)}, env: {}, systemConfigFile: false, globalKnownHostsFiles: [] });`,
        `const r = await ssh({ host: ${JSON.stringify(h2.name)}, sshConfig: ${JSON.stringify(config)} })\`echo proxied\`;`,
        'console.log(r.stdout.trim());',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, out);
    assert.equal(out.trim(), 'proxied');
    await waitUntil(() => processesWith(`${marker}-relay`).length === 0, 'the relay to end');
  });
});

async function waitUntil(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
