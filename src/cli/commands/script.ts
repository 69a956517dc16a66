// `fleetsh script -w HOSTS [flags] ./local.sh [ARGS...]`: a local script on every selected host,
// without copying it there: its text goes over stdin to the interpreter its #! line names
// (src/fleet/script.ts says which ones and how). The report, flags and exit codes are run's.
import { fleet } from '../../fleet/fleet.js';
import { quote } from '../../command/quote.js';
import { targetsFor, sshTransport, type ConnectionFlags } from '../connect.js';
import {
  drawn,
  fleetOptions,
  fleetRunView,
  noHosts,
  runJob,
  type ExecutionFlags,
  type OutputFlags,
} from '../job.js';
import { selectHosts, type SelectOptions } from '../select.js';

export type ScriptFlags = SelectOptions & ConnectionFlags & ExecutionFlags & OutputFlags;

export async function scriptCommand(file: string, args: string[], flags: ScriptFlags): Promise<void> {
  const selection = await selectHosts(flags);
  const { hosts } = selection;
  if (hosts.size === 0) return noHosts(flags);
  const transport = await sshTransport();
  const f = fleet(targetsFor(hosts.hosts, flags, selection.settings), {
    ...fleetOptions(flags),
    connect: transport.connect,
  });
  await runJob({
    label: ['script', file, ...args].map(quote).join(' '),
    hosts: hosts.hosts,
    flags,
    ...fleetRunView,
    start: (progress) => drawn(f.script(file, args), progress),
    cleanup: () => transport.close(),
  });
}
