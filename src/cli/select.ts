// From `-w HOSTS [-x HOSTS] [-i INVENTORY]` to the hosts a command runs on and their connection
// settings. The host-set syntax and the inventory are the library's; the CLI adds `@failed` and
// friends from the run journal (the newest run's, or `12:@failed` for run 12's), the ./fleetsh.yml
// default, and `-w -` (or `-x -`): a list pasted on stdin, one host a line. A resume runs the hosts
// its run left, whatever the flags say.
import { existsSync } from 'node:fs';
import { DEFAULT_INVENTORY } from '../inventory/default-inventory.js';
import { formatIssue } from '../inventory/errors.js';
import { HostSet } from '../inventory/hostset.js';
import type { Inventory } from '../inventory/inventory.js';
import { printable } from '../process/printable.js';
import { CliUsageError } from './errors.js';
import { readStdinText } from './stdin.js';
import { currentResume, runHostSet, type JournalFlags } from './journal.js';

export interface SelectOptions extends JournalFlags {
  hosts?: string;
  exclude?: string;
  inventory?: string;
}

export interface Selection {
  hosts: HostSet;
  inventory: Inventory | undefined;
  /** The inventory's target for a host (Inventory#targetFor), or nothing without an inventory. */
  settings(host: string): object;
}

const RUN_SETS = ['ok', 'failed', 'unreachable', 'skipped'] as const;
type RunSetName = (typeof RUN_SETS)[number];
/** `@failed` (the newest run) or `12:@failed`, written `@12:failed` for the parser (a group name may hold ':'). */
const RUN_REF = new RegExp(`(?<![\\w.-])@(?:\\d+:)?(?:${RUN_SETS.join('|')})(?![\\w.:-])`);
const PAST_RUN = new RegExp(`(?<![\\w.@-])(\\d+):@(${RUN_SETS.join('|')})\\b`, 'g');

/**
 * The inventory module loads a YAML parser: imported only when there is an inventory to read. What
 * its commands printed and it left out is said on stderr.
 */
export async function openInventory(path: string | undefined): Promise<Inventory | undefined> {
  if (path === undefined && !existsSync(DEFAULT_INVENTORY)) return undefined;
  const { loadInventory } = await import('../inventory/inventory.js');
  const inventory = await loadInventory(path ?? DEFAULT_INVENTORY);
  for (const w of inventory.warnings)
    process.stderr.write(printable(`fleetsh: warning: ${formatIssue(w)}`) + '\n');
  return inventory;
}

export async function selectHosts(opts: SelectOptions, extra: string[] = []): Promise<Selection> {
  const resume = currentResume();
  if (resume) {
    const inventory = await openInventory(opts.inventory);
    return {
      hosts: HostSet.from(resume.hosts),
      inventory,
      settings: (host) => (inventory ? inventory.targetFor(host) : {}),
    };
  }
  if (opts.hosts === '-' && opts.exclude === '-')
    throw new CliUsageError('-w - and -x - both read stdin: give one of them as a list on stdin');
  // `-w -` / `-x -`: a list on stdin, one host a line (read before the rest, which may refer to it).
  const list =
    opts.hosts === '-' || opts.exclude === '-'
      ? await readStdinText(opts.hosts === '-' ? '-w -' : '-x -')
      : undefined;
  const listed = opts.hosts === '-';
  const expression = [listed ? undefined : opts.hosts, ...extra]
    .filter((e) => e !== undefined && e.trim() !== '')
    .join(',')
    .replace(PAST_RUN, '@$1:$2');
  if (expression === '' && !listed)
    throw new CliUsageError('no hosts selected: give a host set with -w, e.g. -w web[1-3],db1');
  const exclude = opts.exclude?.replace(PAST_RUN, '@$1:$2');
  const pasted = list?.replace(PAST_RUN, '@$1:$2');
  // The journal is read before parsing (the parser asks for groups synchronously).
  const sets = new Map<string, string[]>();
  for (const text of [expression, exclude, pasted]) {
    if (text === undefined || !RUN_REF.test(text)) continue;
    for (const m of text.matchAll(new RegExp(RUN_REF.source, 'g'))) {
      const ref = /^@(?:(\d+):)?(\w+)$/.exec(m[0])!;
      const key = ref[1] ? `${ref[1]}:${ref[2]}` : ref[2]!;
      if (!sets.has(key))
        sets.set(key, await runHostSet(opts, ref[1] ? Number(ref[1]) : 'last', ref[2] as RunSetName));
    }
  }
  const lastRun = (name: string): Iterable<string> | undefined => sets.get(name);

  const inventory = await openInventory(opts.inventory);
  const parse = (text: string) =>
    inventory ? inventory.select(text, { groups: lastRun }) : HostSet.parse(text, { groups: lastRun });
  const parseList = (text: string) =>
    inventory
      ? inventory.selectList(text, { groups: lastRun, source: 'stdin' })
      : HostSet.parseList(text, { groups: lastRun, source: 'stdin' });
  let hosts = listed ? parseList(pasted!).union(parse(expression)) : parse(expression);
  if (exclude) hosts = hosts.difference(exclude === '-' ? parseList(pasted!) : parse(exclude));
  return {
    hosts,
    inventory,
    settings: (host) => (inventory ? inventory.targetFor(host) : {}),
  };
}
