// ssh2 loads on first use, not at import: commands that never connect (`fleetsh hosts`, `--help`,
// the library's local `$`) never load it, and a connection loads it with its identities.
import type * as Ssh2Client from './ssh2-client.js';

export type Ssh2 = typeof Ssh2Client;

let loading: Promise<Ssh2> | undefined;

export function loadSsh2(): Promise<Ssh2> {
  return (loading ??= import('./ssh2-client.js'));
}
