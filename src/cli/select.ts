// From `-w HOSTS [-x HOSTS] [-i INVENTORY]` to the list of hosts a command runs on. The host-set
// syntax and the inventory are the library's; the CLI adds only `@failed` and friends from the state
// file of the last run, and the ./fleetsh.yml default.
import { HostSet } from '../inventory/hostset.js';
import { CliUsageError } from './errors.js';
import { LAST_RUN_SETS, loadLastRun, type LastRun, type LastRunSet } from './state.js';

export interface SelectOptions {
  hosts?: string;
  exclude?: string;
  inventory?: string;
}

export interface Selection {
  hosts: HostSet;
}

const LAST_RUN_REF = new RegExp(`@(${LAST_RUN_SETS.join('|')})\\b`);

export async function selectHosts(opts: SelectOptions, extra: string[] = []): Promise<Selection> {
  const expression = [opts.hosts, ...extra].filter((e) => e !== undefined && e.trim() !== '').join(',');
  if (expression === '')
    throw new CliUsageError('no hosts selected: give a host set with -w, e.g. -w web[1-3],db1');
  const needsLastRun =
    LAST_RUN_REF.test(expression) || (opts.exclude !== undefined && LAST_RUN_REF.test(opts.exclude));
  const last = needsLastRun ? await loadLastRun() : undefined;
  const groups = (name: string): Iterable<string> | undefined => {
    if ((LAST_RUN_SETS as readonly string[]).includes(name)) return lastRunHosts(last, name as LastRunSet);
    return undefined;
  };
  let hosts = HostSet.parse(expression, { groups });
  if (opts.exclude) hosts = hosts.difference(HostSet.parse(opts.exclude, { groups }));
  return { hosts };
}

function lastRunHosts(last: LastRun | undefined, name: LastRunSet): string[] {
  if (!last) throw new CliUsageError(`@${name}: there is no previous run to take hosts from`);
  return last.sets[name] ?? [];
}
