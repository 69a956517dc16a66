// `fleetsh run -w HOSTS [flags] -- COMMAND...`: one command line on every selected host, with
// fleetsh's stdin (or --stdin-file) as every host's input.
import { fleet } from '../../fleet/fleet.js';
import { fleetTransport, targetsFor, useAgent, type ConnectionFlags, type NatsFlags } from '../connect.js';
import { CliUsageError } from '../errors.js';
import {
  drawn,
  fleetOptions,
  fleetRunView,
  outputKept,
  noHosts,
  runJob,
  type ExecutionFlags,
  type OutputFlags,
} from '../job.js';
import { printPlan } from '../dry-run.js';
import { privilegeOptions, type PrivilegeFlags } from '../privilege.js';
import { selectHosts, type SelectOptions } from '../select.js';
import { commandInput, type InputFlags } from '../stdin.js';

export type RunFlags = SelectOptions &
  ConnectionFlags &
  NatsFlags &
  ExecutionFlags &
  OutputFlags &
  InputFlags &
  PrivilegeFlags;

export async function runCommand(words: string[], flags: RunFlags): Promise<void> {
  const command = words.join(' ').trim();
  if (command === '') throw new CliUsageError('run: no command given: fleetsh run -w HOSTS -- COMMAND');
  const stdin = commandInput(flags);
  const selection = await selectHosts(flags);
  const { hosts } = selection;
  if (hosts.size === 0) return noHosts(flags);
  const privilege = await privilegeOptions(flags, !flags.dryRun);
  // A sudo password is a secret the agent does not hold: those runs connect directly.
  if (flags.nats !== undefined && flags.askSudoPass)
    throw new CliUsageError(`run: --ask-sudo-pass with --nats: a sudo password is never sent to a worker`);
  const transport = await fleetTransport(flags, selection.inventory, {
    agent: useAgent(flags) && !flags.askSudoPass,
    verbose: flags.verbose,
  });
  const targets = targetsFor(hosts.hosts, flags, selection.settings);
  const f = fleet(targets, {
    ...fleetOptions(flags),
    ...outputKept(flags),
    ...privilege,
    connect: transport.connect,
    ...(stdin ? { stdin } : {}),
  });
  if (flags.dryRun)
    return printPlan(flags, (signal) => f.plan({ action: `run ${command}`, signal }), transport.close);
  await runJob({
    label: `run ${command}`,
    hosts: hosts.hosts,
    flags,
    journal: { command: 'run', args: [words] },
    ...fleetRunView,
    start: (progress) => {
      const run = drawn(f.run`${command}`, progress);
      transport.releaseEachHost(run);
      return run;
    },
    cleanup: () => transport.close(),
  });
}
