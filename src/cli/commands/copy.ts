// `fleetsh copy -w HOSTS SRC DEST [--mode 0644] [--verify] [--backup --validate CMD --reload CMD]`:
// the file (or a directory's files) to every host, atomically; with --verify its SHA-256 is checked
// on the host before it takes its place. With
// --backup, --validate or --reload it is a configuration sync: unchanged hosts are left alone,
// the previous file is kept as a backup and put back when validation fails, reload runs on success.
import { existsSync, statSync } from 'node:fs';
import { fleet } from '../../fleet/fleet.js';
import { fleetTransport, targetsFor, useAgent, type ConnectionFlags, type NatsFlags } from '../connect.js';
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

export type CopyFlags = SelectOptions &
  ConnectionFlags &
  NatsFlags &
  ExecutionFlags &
  OutputFlags & { mode?: number; verify?: boolean; backup?: boolean; validate?: string; reload?: string };

export async function copyCommand(src: string, dest: string, flags: CopyFlags): Promise<void> {
  if (!existsSync(src)) throw new CliUsageError(`copy: ${src}: no such file or directory`);
  // Through workers a copy is one regular file, bounded (docs/scale-out.md): said before any host runs.
  if (flags.nats !== undefined) {
    const st = statSync(src);
    if (st.isDirectory())
      throw new CliUsageError(
        `copy: ${src} is a directory: with --nats a copy is one file (directories do not travel through NATS yet); ` +
          'copy an archive of it, or run copy from a machine that reaches the hosts',
      );
    const { FILE_LIMIT } = await import('../../scale-out/wire.js');
    if (st.size > FILE_LIMIT)
      throw new CliUsageError(
        `copy: ${src} is ${st.size} bytes, over the ${FILE_LIMIT / (1024 * 1024)} MiB a copy through fleetsh workers ` +
          'carries (the file is stored on the NATS server while it is copied): run copy without --nats, from a machine that reaches the hosts',
      );
  }
  const selection = await selectHosts(flags);
  const { hosts } = selection;
  if (hosts.size === 0) return noHosts(flags);
  const transport = await fleetTransport(flags, selection.inventory, {
    agent: useAgent(flags),
    verbose: flags.verbose,
  });
  const f = fleet(targetsFor(hosts.hosts, flags, selection.settings), {
    ...fleetOptions(flags),
    connect: transport.connect,
  });
  const sync = flags.backup || flags.validate !== undefined || flags.reload !== undefined;
  const mode = flags.mode !== undefined ? { mode: flags.mode } : {};
  const verify = flags.verify ? { verify: true } : {};
  if (flags.dryRun) {
    // A sync leaves hosts that already have the file alone: the dry run compares checksums to say which.
    const compare = sync ? { compare: { local: src, remote: dest, ...mode } } : {};
    const steps = [
      flags.verify && '--verify',
      flags.backup && '--backup',
      flags.validate !== undefined && '--validate',
      flags.reload !== undefined && '--reload',
    ];
    const action = ['copy', src, dest, ...steps.filter(Boolean)].join(' ');
    return printPlan(flags, (signal) => f.plan({ action, signal, ...compare }), transport.close);
  }
  await runJob({
    label: `copy ${src} ${dest}`,
    hosts: hosts.hosts,
    flags,
    journal: { command: 'copy', args: [src, dest] },
    start: (progress) => {
      const run = sync
        ? f.syncConfig({
            files: { local: src, remote: dest, ...mode },
            ...(flags.validate !== undefined ? { validate: flags.validate } : {}),
            ...(flags.reload !== undefined ? { reload: flags.reload } : {}),
            ...verify,
          })
        : f.upload(src, dest, { ...mode, ...verify });
      transport.releaseEachHost(run);
      return drawn(run, progress);
    },
    ...fleetRunView,
    text: (report, colors, opts) => copyText(report, colors, opts),
    cleanup: () => transport.close(),
  });
}

/** Files travel through NATS to hosts only (copy, docs/scale-out.md): pull refuses --nats. */
export function natsRefused(command: string): CliUsageError {
  return new CliUsageError(
    `${command}: --nats runs commands (run, script, rolling) and copies files to hosts (copy): ` +
      `files do not come back through NATS. Run ${command} from a machine that reaches the hosts, as a worker does`,
  );
}
