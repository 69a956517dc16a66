// `ssh(target).inspect()`, the SSH half of a dry run, against real sshd and the harness's faults:
// what a connection would use, and the host key read by a key exchange that hangs up before
// authentication. Nothing is logged in to (an ssh2 server that freezes at the first authentication
// request never sees one), nothing is recorded in known_hosts, no ProxyCommand is started, and a
// jump host is logged in to only when a run would accept its key without recording it.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshFingerprint } from '../../src/ssh/known-hosts.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { startHostile } from '../harness/hostile.js';
import { settlesWithin } from '../harness/settle.js';
import { sshFor, targetOf } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

/** The key known_hosts holds for a host of the fleet, as `type SHA256:...`. */
function recorded(fleet: TestFleet, name: string): { type: string; fingerprint: string } {
  const h = fleet.host(name);
  const line = readFileSync(fleet.knownHostsPath, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`[${h.address}]:${h.port} `))!;
  const [, type, base64] = line.split(' ');
  return { type: type!, fingerprint: sshFingerprint(Buffer.from(base64!, 'base64')) };
}

describe('ssh inspect (a dry run of one target)', { skip }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  before(async () => {
    fleet = await startFleet({
      healthy: 3,
      faults: ['dead-port', 'black-hole', 'changed-key', 'refuses-key'],
    });
    ssh = sshFor(fleet);
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
  });

  test('a healthy host: user, address, port, the key file offered, and its known host key; no connection kept', async () => {
    const h = fleet.host('h01');
    const p = await ssh(targetOf(fleet, h)).inspect();
    assert.deepEqual([p.label, p.user, p.hostname, p.port], ['h01', fleet.user, h.address, h.port]);
    assert.deepEqual(p.jump, []);
    assert.equal(p.auth.agent, null);
    assert.equal(p.auth.identitiesOnly, true);
    assert.deepEqual(
      p.auth.keys.map((k) => [k.label, k.type]),
      [[`${fleet.clientKeyPath} (IdentityFile in ${fleet.sshConfigPath})`, 'ssh-ed25519']],
    );
    assert.equal(p.hostKey.status, 'known');
    assert.equal(p.hostKey.verdict, 'connect');
    assert.deepEqual(p.hostKey.key, recorded(fleet, 'h01'));
    assert.deepEqual(p.hostKey.entry, { file: fleet.knownHostsPath, line: 1, type: 'ssh-ed25519' });
    assert.deepEqual(p.contacted, [{ host: 'h01', how: 'key-exchange' }]);
    assert.equal(ssh.pool.size, 0, 'the probe does not stay in the pool');
  });

  test('changed key, dead port and black hole: changed (refused), unreachable by kind, within the connect timeout', async () => {
    const changed = await ssh(targetOf(fleet, fleet.host('h-changed-key'))).inspect();
    assert.equal(changed.hostKey.status, 'changed');
    assert.equal(changed.hostKey.verdict, 'refuse');
    assert.equal(changed.hostKey.entry?.file, fleet.knownHostsPath);
    assert.notEqual(changed.hostKey.key?.fingerprint, recorded(fleet, 'h-changed-key').fingerprint);
    const off = await ssh(targetOf(fleet, fleet.host('h-changed-key'), { hostKeyPolicy: 'off' })).inspect();
    assert.equal(off.hostKey.verdict, 'unverified');

    const dead = await ssh(targetOf(fleet, fleet.host('h-dead-port'))).inspect();
    assert.deepEqual(
      [dead.hostKey.status, dead.hostKey.kind, dead.hostKey.key],
      ['unreachable', 'refused', null],
    );
    const t0 = performance.now();
    const hole = await settlesWithin(
      ssh(targetOf(fleet, fleet.host('h-black-hole'), { connectTimeout: '1s' })).inspect(),
      10_000,
      'the probe of a black hole',
    );
    assert.deepEqual([hole.hostKey.status, hole.hostKey.kind], ['unreachable', 'connect-timeout']);
    assert.ok(performance.now() - t0 < 5000);
  });

  test('unknown host: strict would refuse, accept-new would record, and the known_hosts file stays as it was', async () => {
    const empty = join(fleet.dir, 'known_hosts.empty');
    writeFileSync(empty, '');
    for (const [policy, verdict] of [
      ['strict', 'refuse'],
      ['accept-new', 'record'],
      ['off', 'unverified'],
    ] as const) {
      const p = await ssh(
        targetOf(fleet, fleet.host('h02'), { knownHosts: empty, hostKeyPolicy: policy }),
      ).inspect();
      assert.equal(p.hostKey.status, 'unknown');
      assert.equal(p.hostKey.verdict, verdict, policy);
      assert.deepEqual(p.hostKey.key, recorded(fleet, 'h02'));
    }
    assert.equal(readFileSync(empty, 'utf8'), '', 'nothing recorded');
  });

  test('it never logs in: a host that refuses the key looks ready, and a server frozen at authentication never sees a request', async () => {
    const refusing = ssh(targetOf(fleet, fleet.host('h-refuses-key')));
    const p = await refusing.inspect();
    assert.equal(p.hostKey.status, 'known');
    assert.equal(p.auth.error, null);
    await assert.rejects(refusing`true`, { kind: 'auth' }, 'a real connection is refused');

    const server = await startHostile({ freezeAt: 'auth' });
    try {
      const q = await settlesWithin(
        ssh(server.target({ connectTimeout: '3s' })).inspect(),
        10_000,
        'the probe of a server frozen at authentication',
      );
      assert.equal(q.hostKey.status, 'known');
      assert.equal(q.auth.password, true);
      assert.deepEqual(server.reached, [], 'no authentication request reached the server');
      assert.ok(!JSON.stringify(q).includes('hostile-password'), 'no secret in the plan');
    } finally {
      await server.close();
    }
  });

  test('through a jump host: the jump host is logged in to and its key known; the host is only probed', async () => {
    const p = await ssh(targetOf(fleet, fleet.host('h03'), { jump: 'h01' })).inspect();
    assert.deepEqual(
      p.jump.map((j) => [j.label, j.hostKey.status]),
      [['h01', 'known']],
    );
    assert.equal(p.hostKey.status, 'known');
    assert.deepEqual(p.hostKey.key, recorded(fleet, 'h03'));
    assert.deepEqual(p.contacted, [
      { host: 'h01', how: 'login' },
      { host: 'h03', how: 'key-exchange' },
    ]);
  });

  test('through a jump host whose key a run would record, or that is unreachable: the host is not checked', async () => {
    const empty = join(fleet.dir, 'known_hosts.jump');
    writeFileSync(empty, '');
    const hop = {
      host: 'h01',
      sshConfig: fleet.sshConfigPath,
      knownHosts: empty,
      hostKeyPolicy: 'accept-new' as const,
    };
    const p = await ssh(targetOf(fleet, fleet.host('h03'), { jump: hop })).inspect();
    assert.equal(p.jump[0]!.hostKey.verdict, 'record');
    assert.equal(p.hostKey.status, 'not-checked');
    assert.match(p.hostKey.reason!, /record the key of jump host h01.*a dry run records nothing/);
    assert.deepEqual(p.contacted, [{ host: 'h01', how: 'key-exchange' }], 'not logged in to h01');
    assert.equal(readFileSync(empty, 'utf8'), '', 'the jump host key was not recorded');

    const q = await ssh(targetOf(fleet, fleet.host('h03'), { jump: 'h-dead-port' })).inspect();
    assert.deepEqual([q.jump[0]!.hostKey.status, q.jump[0]!.hostKey.kind], ['unreachable', 'refused']);
    assert.equal(q.hostKey.status, 'not-checked');
  });

  test('a ProxyCommand is not started: the host key is not checked, and says why', async () => {
    const marker = join(fleet.dir, 'proxy-started');
    const config = join(fleet.dir, 'ssh_config.proxy');
    const h = fleet.host('h01');
    writeFileSync(
      config,
      [
        'Host proxied',
        `  HostName ${h.address}`,
        `  Port ${h.port}`,
        `  ProxyCommand sh -c 'touch ${marker}; exec nc %h %p'`,
        `  UserKnownHostsFile ${fleet.knownHostsPath}`,
        '',
      ].join('\n'),
    );
    const p = await ssh({ host: 'proxied', sshConfig: config }).inspect();
    assert.match(p.proxyCommand!, /touch/);
    assert.equal(p.hostKey.status, 'not-checked');
    assert.match(p.hostKey.reason!, /ProxyCommand, which a dry run does not start/);
    assert.deepEqual(p.contacted, []);
    assert.ok(!existsSync(marker), 'the ProxyCommand did not run');
  });
});
