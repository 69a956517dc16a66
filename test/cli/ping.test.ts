// `fleetsh ping` against real OpenSSH servers: a table of the hosts that answered, the others by
// kind, exit 2 when any host is unreachable, and JSON with the per-host values.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

describe('fleetsh ping', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3, faults: ['dead-port', 'refuses-key', 'changed-key'] });
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('every host answers: a table with user, address, times and host key type; exit 0', async () => {
    const r = await fleetsh(['ping', '-F', fleet.sshConfigPath, '-w', 'h[01-03]'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HOST +USER +ADDRESS +CONNECT +EXEC +HOST KEY$/m);
    const h01 = fleet.host('h01');
    assert.match(
      r.stdout,
      new RegExp(
        `^h01 +${fleet.user} +${h01.address.replace(/\./g, '\\.')}:${h01.port} +\\d+ ms +\\d+ ms +ssh-ed25519$`,
        'm',
      ),
    );
    assert.match(r.stdout, /^3 hosts: 3 ok/m);
  });

  test('refused, refused key and changed host key are unreachable by kind; exit 2; --json', async () => {
    const r = await fleetsh(
      ['ping', '-F', fleet.sshConfigPath, '-w', 'h01,h-dead-port,h-refuses-key,h-changed-key'],
      { env },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /^unreachable \(refused\): h-dead-port \(1\)$/m);
    assert.match(r.stdout, /^unreachable \(auth\): h-refuses-key \(1\)$/m);
    assert.match(r.stdout, /^unreachable \(changed-host-key\): h-changed-key \(1\)$/m);
    const json = await fleetsh(['ping', '-F', fleet.sshConfigPath, '-w', 'h01,h-dead-port', '--json'], {
      env,
    });
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.exitCode, 2);
    const h01 = doc.hosts.find((h: { host: string }) => h.host === 'h01');
    // The key the server presented in the handshake: the one known_hosts holds for it.
    const hostAddress = fleet.host('h01');
    const line = readFileSync(fleet.knownHostsPath, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`[${hostAddress.address}]:${hostAddress.port} `))!;
    const [, type, base64] = line.split(' ');
    assert.equal(h01.value.hostKeyType, type);
    const fingerprint =
      'SHA256:' +
      createHash('sha256').update(Buffer.from(base64!, 'base64')).digest('base64').replace(/=+$/, '');
    assert.equal(h01.value.hostKeyFingerprint, fingerprint);
    assert.ok(h01.value.connectMs >= 0 && h01.value.execMs >= 0);
  });
});
