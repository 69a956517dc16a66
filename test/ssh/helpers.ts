// Shared set-up for the SSH tests: an `ssh` function with its own pool, reading only the fleet's
// ssh_config (no ~/.ssh, no agent, no global known_hosts), and targets by host name.
import assert from 'node:assert/strict';
import type { LookupFunction } from 'node:net';
import { createSsh, type SshFunction } from '../../src/ssh/shell.js';
import { SshPool, type SshPoolOptions } from '../../src/ssh/pool.js';
import { sessionStarted } from '../../src/ssh/shell-session.js';
import type { SshTargetOptions } from '../../src/ssh/types.js';
import type { FleetHost, TestFleet } from '../harness/fleet.js';

export function sshFor(fleet: TestFleet, pool: SshPoolOptions = {}): SshFunction {
  return createSsh(new SshPool({ onWarning: () => {}, ...pool }), {
    homedir: fleet.dir,
    env: {},
    systemConfigFile: false,
    globalKnownHostsFiles: [],
  });
}

export function targetOf(
  fleet: TestFleet,
  host: FleetHost,
  extra: Partial<SshTargetOptions> = {},
): SshTargetOptions {
  return { host: host.name, sshConfig: fleet.sshConfigPath, ...extra };
}

/** Direct options, without ssh_config: address, port, user, key and known_hosts. */
export function directOf(
  fleet: TestFleet,
  host: FleetHost,
  extra: Partial<SshTargetOptions> = {},
): SshTargetOptions {
  return {
    host: host.address,
    port: host.port,
    username: fleet.user,
    privateKey: fleet.clientKeyPath,
    knownHosts: fleet.knownHostsPath,
    sshConfig: false,
    ...extra,
  };
}

/**
 * Runs `echo NAME` on every healthy host of the fleet through one Promise.allSettled, with no limit
 * in user code, on a pool of its own; asserts every host answered with exactly one handshake each.
 */
export async function promiseAllOverFleet(fleet: TestFleet): Promise<void> {
  const ssh = sshFor(fleet);
  try {
    const t0 = performance.now();
    const results = await Promise.allSettled(
      fleet.healthy.map((h) => ssh(targetOf(fleet, h))`echo ${h.name}`),
    );
    const failed = results.flatMap((r) =>
      r.status === 'rejected' ? [String(r.reason?.message ?? r.reason)] : [],
    );
    assert.deepEqual(failed, []);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value.stdout : '')),
      fleet.healthy.map((h) => `${h.name}\n`),
    );
    assert.equal(ssh.pool.stats().handshakes, fleet.healthy.length);
    process.stderr.write(`# ${fleet.healthy.length} hosts: ${Math.round(performance.now() - t0)} ms\n`);
  } finally {
    await ssh.close();
  }
}

/**
 * A name lookup that answers "not found" for every name, here, and records what it was asked: the
 * tests of unresolvable names never send a DNS query off the machine.
 */
export function notFoundLookup(queried: string[]): LookupFunction {
  return ((hostname: string, _options: unknown, callback: (err: Error) => void) => {
    queried.push(hostname);
    const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
      code: 'ENOTFOUND',
      hostname,
    });
    process.nextTick(() => callback(err));
  }) as unknown as LookupFunction;
}

/**
 * Makes each host's persistent shell ready: a connection's first command is an exec request, its
 * second starts the shell beside it; this waits until the start is over, and tries again (a few
 * times) where it did not start: on a loaded machine, a start that takes over 5 s is given up.
 */
export async function warmShells(ssh: SshFunction, fleet: TestFleet, hosts = fleet.healthy): Promise<void> {
  await Promise.all(
    hosts.map(async (h) => {
      const s = ssh(targetOf(fleet, h));
      await s`true`;
      for (let i = 0; i < 5; i++) {
        await s`true`;
        if (await sessionStarted(ssh.pool.connection(await s.resolve()))) return;
      }
      throw new Error(`${h.name}: the persistent shell did not start`);
    }),
  );
}
