// `fleetsh pull -w HOSTS REMOTE LOCALDIR`: a file or a directory from every host into
// LOCALDIR/<host>/<name>, each file checked against the SHA-256 the host computed before it takes
// its place (the library's fleet.download). The report and the exit status are run's.
import { fleet } from '../../fleet/fleet.js';
import { targetsFor, sshTransport, useAgent, type ConnectionFlags, type NatsFlags } from '../connect.js';
import { natsRefused } from './copy.js';
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
import { copyText } from '../render/copy.js';
import { printPlan } from '../dry-run.js';
import { selectHosts, type SelectOptions } from '../select.js';

export type PullFlags = SelectOptions & ConnectionFlags & NatsFlags & ExecutionFlags & OutputFlags;

export async function pullCommand(remote: string, localDir: string, flags: PullFlags): Promise<void> {
  if (flags.nats !== undefined) throw natsRefused('pull');
  if (remote.trim() === '') throw new CliUsageError('pull: the remote path is empty');
  if (localDir.trim() === '') throw new CliUsageError('pull: the local folder is empty');
  const selection = await selectHosts(flags);
  const { hosts } = selection;
  if (hosts.size === 0) return noHosts(flags);
  const transport = await sshTransport({ agent: useAgent(flags), verbose: flags.verbose });
  const f = fleet(targetsFor(hosts.hosts, flags, selection.settings), {
    ...fleetOptions(flags),
    connect: transport.connect,
  });
  if (flags.dryRun)
    return printPlan(
      flags,
      (signal) => f.plan({ action: `pull ${remote} ${localDir}`, signal }),
      transport.close,
    );
  await runJob({
    label: `pull ${remote} ${localDir}`,
    hosts: hosts.hosts,
    flags,
    journal: { command: 'pull', args: [remote, localDir] },
    start: (progress) => drawn(f.download(remote, localDir), progress),
    ...fleetRunView,
    text: (report, colors, opts) => copyText(report, colors, { ...opts, pulled: remote }),
    cleanup: () => transport.close(),
  });
}
