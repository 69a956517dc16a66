// From `-w HOSTS [-x HOSTS] [-i INVENTORY]` to the hosts a command runs on and their connection
// settings. The host-set syntax and the inventory are the library's; the CLI adds `@failed` and
// friends from the last run's state file, and the ./fleetsh.yml default.
import { existsSync } from 'node:fs';
import { DEFAULT_INVENTORY } from '../inventory/default-inventory.js';
import { formatIssue } from '../inventory/errors.js';
import { HostSet } from '../inventory/hostset.js';
import type { Inventory } from '../inventory/inventory.js';
import { printable } from '../process/printable.js';
import { CliUsageError } from './errors.js';
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
  const expression = [opts.hosts, ...extra].filter((e) => e !== undefined && e.trim() !== '').join(',');
  if (expression === '')
    throw new CliUsageError('no hosts selected: give a host set with -w, e.g. -w web[1-3],db1');
  const needsLastRun =
    LAST_RUN_REF.test(expression) || (opts.exclude !== undefined && LAST_RUN_REF.test(opts.exclude));
  const last = needsLastRun ? await loadLastRun() : undefined;
  const lastRun = (name: string): Iterable<string> | undefined =>
    (LAST_RUN_SETS as readonly string[]).includes(name) ? lastRunHosts(last, name as LastRunSet) : undefined;

  const inventory = await openInventory(opts.inventory);
  const parse = (text: string) =>
    inventory ? inventory.select(text, { groups: lastRun }) : HostSet.parse(text, { groups: lastRun });
  let hosts = parse(expression);
  if (opts.exclude) hosts = hosts.difference(parse(opts.exclude));
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
