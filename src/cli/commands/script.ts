// `fleetsh script -w HOSTS [flags] ./local.sh [ARGS...]`: a local script on every selected host,
// without copying it there: its text goes over stdin to the interpreter its #! line names
// (src/fleet/script.ts says which ones and how). The report, flags and exit codes are run's.
import { fleet } from '../../fleet/fleet.js';
import { fleetTransport, targetsFor, useAgent, type ConnectionFlags, type NatsFlags } from '../connect.js';
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
import { CliUsageError } from '../errors.js';
import { privilegeOptions, type PrivilegeFlags } from '../privilege.js';
import { selectHosts, type SelectOptions } from '../select.js';
import { localScript } from '../../fleet/script.js';

export type ScriptFlags = SelectOptions &
  ConnectionFlags &
  NatsFlags &
  ExecutionFlags &
  OutputFlags &
  PrivilegeFlags;

export async function scriptCommand(file: string, args: string[], flags: ScriptFlags): Promise<void> {
  if (flags.tty)
    throw new CliUsageError(
      'script: --tty would type the script on a terminal, which echoes it back as output; ' +
        'copy the script to the hosts and use fleetsh run --tty to run it',
    );
  // The script is read and its interpreter checked first (before the hosts are selected), also in a dry run.
  const label = localScript(file, args).label;
  const selection = await selectHosts(flags);
  const { hosts } = selection;
  if (hosts.size === 0) return noHosts(flags);
  const privilege = await privilegeOptions(flags, !flags.dryRun);
  // A sudo password is a secret the agent does not hold: those runs connect directly.
  if (flags.nats !== undefined && flags.askSudoPass)
    throw new CliUsageError(`script: --ask-sudo-pass with --nats: a sudo password is never sent to a worker`);
  const transport = await fleetTransport(flags, selection.inventory, {
    agent: useAgent(flags) && !flags.askSudoPass,
    verbose: flags.verbose,
  });
  const f = fleet(targetsFor(hosts.hosts, flags, selection.settings), {
    ...fleetOptions(flags),
    ...outputKept(flags),
    ...privilege,
    connect: transport.connect,
  });
  if (flags.dryRun) return printPlan(flags, (signal) => f.plan({ action: label, signal }), transport.close);
  await runJob({
    label,
    hosts: hosts.hosts,
    flags,
    journal: { command: 'script', args: [file, args] },
    ...fleetRunView,
    start: (progress) => drawn(f.script(file, args), progress),
    cleanup: () => transport.close(),
  });
}
