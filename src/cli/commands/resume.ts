// `fleetsh resume RUN`: continues a run or a rolling deployment that did not end (its controller
// died, or Ctrl-C), as a new session of the same run in the journal. Hosts that finished are not
// run again; a deployment's remaining batches go on with the same failure budget, counting what
// already failed. Hosts that were in flight have no known outcome: the operator chooses (asked on a
// terminal, else --rerun-interrupted or --skip-interrupted), never fleetsh.
import { createInterface } from 'node:readline/promises';
import { skippedResult, type HostResult } from '../../fleet/host-result.js';
import { foldHosts } from '../../fleet/hostset.js';
import { hostResult } from '../../journal/report.js';
import { CliUsageError } from '../errors.js';
import { cliJournal, setResume, type JournalFlags, type ResumeContext } from '../journal.js';
import { runRef } from './show.js';

export interface ResumeFlags extends JournalFlags {
  rerunInterrupted?: boolean;
  skipInterrupted?: boolean;
}

type Choice = 'rerun' | 'skip';

/** What a resume starts again: each resumable subcommand, called with its arguments and flags. */
const COMMANDS: Record<string, () => Promise<(...args: any[]) => Promise<void>>> = {
  run: async () => (await import('./run.js')).runCommand,
  script: async () => (await import('./script.js')).scriptCommand,
  copy: async () => (await import('./copy.js')).copyCommand,
  pull: async () => (await import('./pull.js')).pullCommand,
  rolling: async () => (await import('./rolling.js')).rollingCommand,
};

export async function resumeCommand(ref: string, flags: ResumeFlags): Promise<void> {
  if (flags.rerunInterrupted && flags.skipInterrupted)
    throw new CliUsageError('resume: give one of --rerun-interrupted and --skip-interrupted');
  const journal = await cliJournal(flags, { mustExist: true });
  if (!journal)
    throw new CliUsageError('resume: the journal is off (--no-journal): there is nothing to resume');
  const id = runRef(journal, ref);
  const record = journal.record(id);
  const { row, summary } = record;
  if (summary.state === 'running')
    throw new CliUsageError(
      `resume: run ${id} is running now (process ${row.pid} on ${row.controller}); wait for it, or stop it first`,
    );
  if (summary.outcome !== 'interrupted')
    throw new CliUsageError(
      `resume: run ${id} ended (${summary.outcome}): there is nothing to resume. ` +
        `To run its failed hosts again: fleetsh run -w ${id}:@failed ...`,
    );
  const spec = row.resume
    ? (JSON.parse(row.resume) as { command: string; args: unknown[]; flags: object })
    : null;
  const start = spec ? COMMANDS[spec.command] : undefined;
  if (!spec || !start)
    throw new CliUsageError(
      `resume: run ${id} (${row.kind}) cannot be resumed: only run, script, copy, pull and rolling can. ` +
        `Its hosts are in the journal: fleetsh show ${id}, or -w ${id}:@failed`,
    );

  // Interrupted: in flight when the controller died, or killed by Ctrl-C.
  const isInterrupted = (h: (typeof record.hosts)[number]) =>
    h.status === 'running' || (h.status === 'failed' && h.kind === 'cancelled');
  const interrupted = record.hosts.filter(isInterrupted);
  const choice =
    interrupted.length === 0
      ? 'rerun'
      : await chooseFor(
          id,
          interrupted.map((h) => h.host),
          flags,
        );

  const phases = Math.max(1, ...record.hosts.map((h) => h.phase + 1));
  const previous = Array.from({ length: phases }, () => new Map<string, HostResult<unknown>>());
  const skipped: { result: HostResult<unknown>; phase: number }[] = [];
  for (const h of record.hosts) {
    if (isInterrupted(h)) {
      if (choice === 'skip') {
        const result = skippedResult(
          h.host,
          h.idx,
          'cancelled',
          `interrupted when run ${id} stopped; left as it was on resume (--skip-interrupted)`,
        );
        previous[h.phase]!.set(h.host, result);
        skipped.push({ result, phase: h.phase });
      }
    } else if (['ok', 'failed', 'timeout', 'unreachable'].includes(h.status))
      previous[h.phase]!.set(h.host, hostResult(h, [], false));
  }
  const rolling = spec.command === 'rolling';
  const written = [...new Set(record.hosts.map((h) => h.written))];
  const left = record.hosts.filter((h) => !previous[h.phase]!.has(h.host));
  const hosts = rolling ? written : left.map((h) => h.written);
  const context: ResumeContext = { journal, runId: id, hosts, previous, skipped };
  process.stderr.write(
    `fleetsh: resuming run ${id} (${row.label ?? row.kind}): ` +
      `${left.length === 0 ? 'no host' : foldHosts(left.map((h) => h.host))} left to run\n`,
  );
  if (!rolling && hosts.length === 0) {
    // Everything finished (or was skipped now): the run ends here, as a session of its own.
    const writer = journal.continueRun(id);
    for (const s of skipped) writer.hostEnd(s.result, s.phase);
    const all = [...previous[0]!.values()];
    writer.finish(all.every((h) => h.status === 'ok') ? 'ok' : 'failed');
    process.exitCode = all.every((h) => h.status === 'ok') ? 0 : 1;
    return;
  }
  setResume(context);
  try {
    const command = await start();
    await command(...spec.args, { ...spec.flags, journal: journal.path });
  } finally {
    setResume(undefined);
  }
}

async function chooseFor(id: number, hosts: string[], flags: ResumeFlags): Promise<Choice> {
  if (flags.rerunInterrupted) return 'rerun';
  if (flags.skipInterrupted) return 'skip';
  const what = `${hosts.length} host${hosts.length === 1 ? ' was' : 's were'} in flight when run ${id} stopped (${foldHosts(hosts)}): whether they finished is unknown`;
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new CliUsageError(
      `resume: ${what}. Say what to do with them: --rerun-interrupted runs them again, ` +
        '--skip-interrupted leaves them as they are',
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    for (;;) {
      const answer = (await rl.question(`fleetsh: ${what}.\nRun them again (r) or leave them (s)? [r/s] `))
        .trim()
        .toLowerCase();
      if (answer === 'r' || answer === 'rerun') return 'rerun';
      if (answer === 's' || answer === 'skip') return 'skip';
    }
  } finally {
    rl.close();
  }
}
