// `fleetsh history`: the journal's recent runs, one a line (id, when, who, what, outcome, counts),
// newest first, or as JSON.
import { colorEnabled, palette } from '../../render/palette.js';
import { CliUsageError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { journalPath, type JournalFlags } from '../journal.js';
import { existsSync } from 'node:fs';
import { openForReading, stateWord } from './show.js';

export interface HistoryFlags extends JournalFlags {
  limit?: number;
  json?: boolean;
  color?: boolean;
}

export async function historyCommand(flags: HistoryFlags): Promise<void> {
  const path = await journalPath(flags);
  if (path === undefined) throw new CliUsageError('history: the journal is off (--no-journal)');
  // No journal yet is an empty history, not an error.
  const journal = existsSync(path) ? await openForReading(flags) : undefined;
  const runs = journal?.runs(flags.limit ?? 20) ?? [];
  if (flags.json) {
    process.stdout.write(JSON.stringify(runs, null, 2) + '\n');
    process.exitCode = EXIT.ok;
    return;
  }
  if (runs.length === 0) process.stderr.write(`fleetsh: no run is recorded in ${path}\n`);
  const colors = palette(flags.color !== false && colorEnabled(process.stdout), {});
  for (const r of runs) {
    const c = r.counts;
    const parts = [`${c.ok} ok`];
    if (c.failed) parts.push(`${c.failed} failed`);
    if (c.timeout) parts.push(`${c.timeout} timed out`);
    if (c.unreachable) parts.push(`${c.unreachable} unreachable`);
    if (c.interrupted) parts.push(`${c.interrupted} interrupted`);
    if (c.running) parts.push(`${c.running} running`);
    if (c.skipped) parts.push(`${c.skipped} skipped`);
    const when = r.startedAt.slice(0, 19).replace('T', ' ');
    const line = [
      String(r.id).padStart(4),
      when,
      colors.show(r.user ?? '?'),
      colors.show(r.label ?? r.kind),
      stateWord(r, colors),
      `${c.total} host${c.total === 1 ? '' : 's'}: ${parts.join(', ')}`,
    ];
    process.stdout.write(line.join('  ') + '\n');
  }
  process.exitCode = EXIT.ok;
}
