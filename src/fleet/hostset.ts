// Folding host names into a host set for reports: the one place the fleet depends on the inventory.
// TODO(inventory): replace with `fold` from '../inventory/index.js' when it lands.

export function foldHosts(hosts: readonly string[]): string {
  return hosts.join(',');
}
