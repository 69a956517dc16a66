// `fleetsh hosts -w EXPR`: expand a host set, one host a line; --fold gives the shortest form back,
// --count the number of hosts.
import { selectHosts, type SelectOptions } from '../select.js';

export interface HostsOptions extends SelectOptions {
  fold?: boolean;
  count?: boolean;
  json?: boolean;
}

export async function hostsCommand(args: string[], opts: HostsOptions): Promise<void> {
  const { hosts } = await selectHosts(opts, args);
  let text: string;
  if (opts.count) text = String(hosts.size);
  else if (opts.json) text = JSON.stringify(hosts.hosts);
  else if (opts.fold) text = hosts.toString();
  else text = hosts.hosts.join('\n');
  if (text !== '') process.stdout.write(text + '\n');
}
