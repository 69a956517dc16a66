// From `-w HOSTS [-x HOSTS] [-i INVENTORY]` to the hosts a command runs on and their connection
// settings. The host-set syntax and the inventory are the library's; the CLI adds `@failed` and
// friends from the last run's state file, the ./fleetsh.yml default, and `-w -` (or `-x -`): a list
// pasted on stdin, one host a line.
import { existsSync } from 'node:fs';
import { DEFAULT_INVENTORY } from '../inventory/default-inventory.js';
import { formatIssue } from '../inventory/errors.js';
import { HostSet } from '../inventory/hostset.js';
import type { Inventory } from '../inventory/inventory.js';
import { printable } from '../process/printable.js';
import { CliUsageError } from './errors.js';
import { readStdinText } from './stdin.js';
import { LAST_RUN_SETS, loadLastRun, statePath, type LastRun, type LastRunSet } from './state.js';

export interface SelectOptions {
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

const LAST_RUN_REF = new RegExp(`@(${LAST_RUN_SETS.join('|')})\\b`);

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
    .join(',');
  if (expression === '' && !listed)
    throw new CliUsageError('no hosts selected: give a host set with -w, e.g. -w web[1-3],db1');
  const needsLastRun = [expression, opts.exclude, list].some((e) => e !== undefined && LAST_RUN_REF.test(e));
  const last = needsLastRun ? await loadLastRun() : undefined;
  const lastRun = (name: string): Iterable<string> | undefined =>
    (LAST_RUN_SETS as readonly string[]).includes(name) ? lastRunHosts(last, name as LastRunSet) : undefined;

  const inventory = await openInventory(opts.inventory);
  const parse = (text: string) =>
    inventory ? inventory.select(text, { groups: lastRun }) : HostSet.parse(text, { groups: lastRun });
  const parseList = (text: string) =>
    inventory
      ? inventory.selectList(text, { groups: lastRun, source: 'stdin' })
      : HostSet.parseList(text, { groups: lastRun, source: 'stdin' });
  let hosts = listed ? parseList(list!).union(parse(expression)) : parse(expression);
  if (opts.exclude) hosts = hosts.difference(opts.exclude === '-' ? parseList(list!) : parse(opts.exclude));
  return {
    hosts,
    inventory,
    settings: (host) => (inventory ? inventory.targetFor(host) : {}),
  };
}

function lastRunHosts(last: LastRun | undefined, name: LastRunSet): string[] {
  if (!last)
    throw new CliUsageError(`@${name}: there is no previous run to take hosts from (no ${statePath()})`);
  return last.sets[name] ?? [];
}
