// ssh2 loads on first use, not at import: a connection starts its TCP handshake first and loads ssh2
// while it waits for the server's banner (src/ssh/connection.ts), so the two overlap rather than add
// up at start-up.
import type * as Ssh2Client from './ssh2-client.js';

export type Ssh2 = typeof Ssh2Client;

let loading: Promise<Ssh2> | undefined;

export function loadSsh2(): Promise<Ssh2> {
  return (loading ??= import('./ssh2-client.js'));
}
