// Host sets in reports and targets, from the inventory's range syntax: the fleet's one dependency on it.
// (Imported from the modules themselves, not the inventory's index, so no YAML parser loads.)
import { fold } from '../inventory/fold.js';
import { expand } from '../inventory/hostset.js';

/** Folds host names into a host set: ['web1', 'web2', 'web3', 'web7'] → 'web[1-3,7]'. */
export function foldHosts(hosts: readonly string[]): string {
  return fold(hosts);
}

/** Expands a host-set expression without an inventory (ranges and set operators; no @groups). */
export function expandHosts(expression: string): string[] {
  return expand(expression);
}
