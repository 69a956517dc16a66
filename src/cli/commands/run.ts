// `fleetsh run -w HOSTS [flags] -- COMMAND...`: one command line on every selected host.
import { fleet } from '../../fleet/fleet.js';
import { targetsFor, sshTransport, type ConnectionFlags } from '../connect.js';
import { CliUsageError } from '../errors.js';
import {
  drawn,
  fleetOptions,
  fleetRunView,
  noHosts,
  runJob,
  type ExecutionFlags,
  type OutputFlags,
} from '../job.js';
import { privilegeOptions, type PrivilegeFlags } from '../privilege.js';
import { selectHosts, type SelectOptions } from '../select.js';

export type RunFlags = SelectOptions & ConnectionFlags & ExecutionFlags & OutputFlags & PrivilegeFlags;

export async function runCommand(words: string[], flags: RunFlags): Promise<void> {
  const command = words.join(' ').trim();
  if (command === '') throw new CliUsageError('run: no command given: fleetsh run -w HOSTS -- COMMAND');
  const selection = await selectHosts(flags);
  const { hosts } = selection;
  if (hosts.size === 0) return noHosts(flags);
  const privilege = await privilegeOptions(flags);
  const transport = await sshTransport();
  const targets = targetsFor(hosts.hosts, flags, selection.settings);
  const f = fleet(targets, { ...fleetOptions(flags), ...privilege, connect: transport.connect });
  await runJob({
    label: `run ${command}`,
    hosts: hosts.hosts,
    flags,
    ...fleetRunView,
    start: (progress) => drawn(f.run`${command}`, progress),
    cleanup: () => transport.close(),
  });
}
