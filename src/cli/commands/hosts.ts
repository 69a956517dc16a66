// `fleetsh hosts -w EXPR`: expand a host set, one host a line; --fold gives the shortest form back,
// --count the number of hosts, --groups the inventory's groups. No expression: every inventory host.
import { fold } from '../../inventory/fold.js';
import { CliUsageError } from '../errors.js';
import { openInventory, selectHosts, type SelectOptions } from '../select.js';

export interface HostsOptions extends SelectOptions {
  fold?: boolean;
  count?: boolean;
  json?: boolean;
  groups?: boolean;
}

export async function hostsCommand(args: string[], opts: HostsOptions): Promise<void> {
  if (opts.groups) return listGroups(opts);
  const noExpression = opts.hosts === undefined && args.length === 0;
  const { hosts } = await selectHosts(noExpression ? { ...opts, hosts: '@all' } : opts, args).catch((e) => {
    if (noExpression)
      throw new CliUsageError('hosts: give a host set (-w web[1-3]) or an inventory that lists hosts');
    throw e;
  });
  let text: string;
  if (opts.count) text = String(hosts.size);
  else if (opts.json) text = JSON.stringify(hosts.hosts);
  else if (opts.fold) text = hosts.toString();
  else text = hosts.hosts.join('\n');
  if (text !== '') process.stdout.write(text + '\n');
}

async function listGroups(opts: HostsOptions): Promise<void> {
  const inventory = await openInventory(opts.inventory);
  if (!inventory)
    throw new CliUsageError('hosts --groups: no inventory (give -i FILE or create ./fleetsh.yml)');
  const rows = inventory.groups().map((g) => ({ group: g, hosts: inventory.resolveGroup(g).hosts }));
  if (opts.json) {
    process.stdout.write(JSON.stringify(Object.fromEntries(rows.map((r) => [r.group, r.hosts]))) + '\n');
    return;
  }
  const width = Math.max(0, ...rows.map((r) => r.group.length + 1));
  for (const r of rows)
    process.stdout.write(`${`@${r.group}`.padEnd(width)}  ${fold(r.hosts)} (${r.hosts.length})\n`);
}
