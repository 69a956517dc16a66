// `fleetsh rolling -w HOSTS --batches 1,10%,100% --health CMD [--pause D] [--max-failures N] -- COMMAND`:
// the command on one batch after another, each host health-checked after it, stopping once more
// hosts failed than the budget allows (default 0).
import { rolling, type RollingOptions, type RollingReport } from '../../fleet/rolling.js';
import { planRolling } from '../../fleet/rolling-plan.js';
import { attachRollingProgress } from '../../render/progress.js';
import { rollingText } from '../../render/rolling-text.js';
import { fleetTransport, targetsFor, useAgent, type ConnectionFlags, type NatsFlags } from '../connect.js';
import { CliUsageError } from '../errors.js';
import {
  fleetOptions,
  noHosts,
  runJob,
  type ExecutionFlags,
  type JobSpec,
  type OutputFlags,
} from '../job.js';
import { NDJSON_EVENTS } from '../render/ndjson.js';
import { rollingHeaders } from '../render/rolling.js';
import { printPlan } from '../dry-run.js';
import { selectHosts, type SelectOptions } from '../select.js';
import { currentResume } from '../journal.js';

export type RollingFlags = SelectOptions &
  ConnectionFlags &
  NatsFlags &
  ExecutionFlags &
  OutputFlags & {
    batches: (number | `${number}%`)[];
    health?: string;
    pause?: number;
  };

export async function rollingCommand(words: string[], flags: RollingFlags): Promise<void> {
  const command = words.join(' ').trim();
  if (command === '')
    throw new CliUsageError(
      'rolling: no command given: fleetsh rolling -w HOSTS --batches 1,100% -- COMMAND',
    );
  if (flags.failFast)
    throw new CliUsageError('rolling: use --max-failures (default 0: stop at the first failure)');
  const selection = await selectHosts(flags);
  const resume = currentResume();
  const { hosts } = selection;
  if (hosts.size === 0) return noHosts(flags);
  const transport = await fleetTransport(flags, selection.inventory, {
    agent: useAgent(flags),
    verbose: flags.verbose,
  });
  // Each batch runs all its hosts at once unless -f says otherwise.
  const options = fleetOptions(flags);
  if (flags.fanout === undefined) delete options.concurrency;
  const deployment: RollingOptions = {
    ...options,
    connect: transport.connect,
    phases: [{ name: 'deploy', targets: targetsFor(hosts.hosts, flags, selection.settings), command }],
    batches: flags.batches,
    ...(flags.health !== undefined ? { healthCheck: flags.health } : {}),
    ...(flags.pause !== undefined ? { pause: flags.pause } : {}),
    maxFailures: flags.maxFailures ?? 0,
    // fleetsh resume: the hosts finished before are not run again, and count in the budget.
    ...(resume ? { previous: resume.previous } : {}),
  };
  if (flags.dryRun)
    return printPlan(
      flags,
      (signal) => planRolling(deployment, { action: `rolling ${command}`, signal }),
      transport.close,
    );
  await runJob<RollingReport>({
    label: `rolling ${command}`,
    hosts: hosts.hosts,
    flags,
    journal: { command: 'rolling', args: [words], rolling: true },
    events: [
      ...NDJSON_EVENTS.filter((e) => e.startsWith('server:')),
      'rolling:phase',
      'rolling:batch',
      'rolling:batch-done',
      'rolling:stop',
    ],
    ...rollingJob(deployment),
    cleanup: () => transport.close(),
  });
}

/** The spec parts of a rolling deployment (rolling, demo): start it, progress per batch, its rendering. */
export function rollingJob(
  options: RollingOptions,
): Pick<JobSpec<RollingReport>, 'start' | 'results' | 'text' | 'json' | 'live'> {
  return {
    start: (progress) => {
      const job = rolling(options);
      if (progress) attachRollingProgress(job, progress);
      return job;
    },
    results: (report) => report.phases.flatMap((p) => p.report.hosts),
    text: rollingText,
    json: (report) => report.toJSON(),
    live: (job, term, colors) => rollingHeaders(job, term, colors),
  };
}
