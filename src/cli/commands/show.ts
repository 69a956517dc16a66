// `fleetsh show RUN`: a past run's report from the journal, drawn by the same renderer as the end of
// a live run (or its JSON). A run that did not end says so, and names the hosts it left in flight.
import { FleetReport } from '../../fleet/report.js';
import type { Journal, JournalRecord, RunSummary } from '../../journal/journal.js';
import { colorEnabled, palette, type Palette } from '../../render/palette.js';
import { reportText } from '../../render/report-text.js';
import { rollingText } from '../../render/rolling-text.js';
import { CliUsageError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { cliJournal, type JournalFlags } from '../journal.js';

export interface ShowFlags extends JournalFlags {
  json?: boolean;
  color?: boolean;
  raw?: boolean;
}

/** A run as the operator names it: its number, or `last`. */
export function runRef(journal: Journal, ref: string): number {
  if (ref === 'last') {
    const id = journal.lastRunId();
    if (id === undefined) throw new CliUsageError(`there is no run in the journal ${journal.path}`);
    return id;
  }
  if (!/^\d+$/.test(ref))
    throw new CliUsageError(
      `expected a run number (fleetsh history lists them) or last, got ${JSON.stringify(ref)}`,
    );
  return Number(ref);
}

export async function openForReading(flags: JournalFlags): Promise<Journal> {
  const journal = await cliJournal(flags, { mustExist: true });
  if (!journal) throw new CliUsageError('the journal is off (--no-journal): there is nothing to read');
  return journal;
}

export async function showCommand(ref: string, flags: ShowFlags): Promise<void> {
  const journal = await openForReading(flags);
  const record = journal.record(runRef(journal, ref));
  if (flags.json) {
    process.stdout.write(
      JSON.stringify(
        {
          run: record.summary,
          outputDir: record.row.output_dir,
          interrupted: record.interrupted,
          report: record.report.toJSON(),
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    const colors = palette(flags.color !== false && colorEnabled(process.stdout), {
      raw: flags.raw === true,
    });
    process.stdout.write(showText(record, colors) + '\n');
  }
  process.exitCode = EXIT.ok;
}

export function showText(record: JournalRecord, colors: Palette): string {
  const s = record.summary;
  const head = colors.bold(colors.show(`run ${s.id}: ${s.label ?? s.kind}`));
  const when = `${s.user ?? '?'}, ${s.startedAt}${s.sessions > 1 ? `, ${s.sessions} sessions` : ''}`;
  const out = [`${head} (${colors.show(when)}): ${stateWord(s, colors)}`];
  const report = record.report;
  out.push(report instanceof FleetReport ? reportText(report, colors) : rollingText(report, colors));
  // --output-dir: each host's whole output is in its files there (the journal keeps it up to the cap).
  if (record.row.output_dir) out.push(colors.dim(`output files: ${colors.show(record.row.output_dir)}`));
  if (s.state === 'interrupted') out.push(colors.warn(`fleetsh resume ${s.id} continues it`));
  return out.join('\n');
}

export function stateWord(s: RunSummary, colors: Palette): string {
  if (s.state === 'running') return colors.warn('running');
  const o = s.outcome ?? 'interrupted';
  return o === 'ok' ? colors.ok(o) : o === 'interrupted' ? colors.warn(o) : colors.fail(o);
}
