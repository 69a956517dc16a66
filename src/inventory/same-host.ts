// Which entries of a host set another set names, for "!" and "&" (and HostSet#difference,
// #intersection): a bare host names every way of writing it, so `root@web[1-3]!web2` and
// `-x web2` leave web2 out whatever user or port it was given; `root@web2` names only itself.
import { isBareHost, splitAddress } from '../process/address.js';

/** A test for the entries `other` names: the same text, or the same host when `other` gives it bare. */
export function namedBy(other: Iterable<string>): (entry: string) => boolean {
  const exact = new Set(other);
  const bare = new Set<string>();
  for (const h of exact) if (!/[@:]/.test(h) || isBareHost(h)) bare.add(h);
  if (bare.size === 0) return (entry) => exact.has(entry);
  // Only an entry with "@" or ":" can be another way of writing a host: the rest need no split.
  return (entry) => exact.has(entry) || (/[@:]/.test(entry) && bare.has(splitAddress(entry).host));
}
