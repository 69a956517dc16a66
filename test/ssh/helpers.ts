// Shared set-up for the SSH tests: an `ssh` function with its own pool, reading only the fleet's
// ssh_config (no ~/.ssh, no agent, no global known_hosts), and targets by host name.
import { createSsh, type SshFunction } from '../../src/ssh/shell.js';
import { SshPool, type SshPoolOptions } from '../../src/ssh/pool.js';
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
