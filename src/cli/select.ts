// From `-w HOSTS [-x HOSTS] [-i INVENTORY]` to the hosts a command runs on and their connection
// settings. The host-set syntax and the inventory are the library's; the CLI adds `@failed` and
// friends from the last run's state file, and the ./fleetsh.yml default.
import { existsSync } from 'node:fs';
import { HostSet } from '../inventory/hostset.js';
import type { HostSettings, Inventory } from '../inventory/inventory.js';
import { isEnvName } from '../process/env.js';
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
  /** SSH target options from the inventory for a host (empty without an inventory). */
  settings(host: string): Record<string, unknown>;
}

const LAST_RUN_REF = new RegExp(`@(${LAST_RUN_SETS.join('|')})\\b`);

/** The inventory module loads a YAML parser: imported only when there is an inventory to read. */
export async function openInventory(path: string | undefined): Promise<Inventory | undefined> {
  if (path === undefined && !existsSync(DEFAULT_INVENTORY)) return undefined;
  const { loadInventory } = await import('../inventory/inventory.js');
  return loadInventory(path ?? DEFAULT_INVENTORY);
}

/** The inventory read when no -i is given (the library's DEFAULT_INVENTORY). */
const DEFAULT_INVENTORY = 'fleetsh.yml';

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
    settings: (host) => (inventory ? sshOptions(host, inventory.settingsFor(host)) : {}),
  };
}

/**
 * The inventory's names for connection settings, as `$.ssh` options. Its `vars` become environment
 * variables of every command on the host (`echo $region`); values that are not text become JSON.
 */
function sshOptions(host: string, s: HostSettings): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(s.vars)) {
    if (!isEnvName(name)) {
      throw new CliUsageError(
        `${host}: inventory variable ${JSON.stringify(name)} cannot be an environment variable name; ` +
          'use letters, digits and _ (not starting with a digit)',
      );
    }
    env[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  if (Object.keys(env).length > 0) o.env = env;
  if (s.user !== undefined) o.username = s.user;
  if (s.port !== undefined) o.port = s.port;
  if (s.identity !== undefined) o.privateKey = s.identity;
  if (s.jump !== undefined) o.jump = s.jump;
  if (s.hostKeyPolicy !== undefined) o.hostKeyPolicy = s.hostKeyPolicy;
  if (s.connectTimeout !== undefined) o.connectTimeout = s.connectTimeout;
  return o;
}

function lastRunHosts(last: LastRun | undefined, name: LastRunSet): string[] {
  if (!last)
    throw new CliUsageError(`@${name}: there is no previous run to take hosts from (no ${statePath()})`);
  return last.sets[name] ?? [];
}
