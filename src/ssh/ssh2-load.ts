// ssh2 loads on first use, not at import: commands that never connect (`fleetsh hosts`, `--help`,
// the library's local `$`) never load it, and a connection loads it with its identities.
//
// A load can fail for a moment: out of file descriptors while a thousand connections start. Node
// keeps an ES module that failed to load failed for the life of the process, so a later load takes
// ssh2's files through CommonJS, which forgets a failed module and reads it again.
import type * as Ssh2Client from './ssh2-client.js';

export type Ssh2 = typeof Ssh2Client;

let loaded: Ssh2 | undefined;
let loading: Promise<Ssh2> | undefined;
let failedOnce = false;

export function loadSsh2(): Promise<Ssh2> {
  if (loaded) return Promise.resolve(loaded);
  return (loading ??= (failedOnce ? requireSsh2() : import('./ssh2-client.js')).then(
    (m) => (loaded = m),
    (e: unknown) => {
      loading = undefined;
      failedOnce = true;
      throw e;
    },
  ));
}

/** The same parts as ssh2-client.ts, through CommonJS (the CLI bundle never gets here: ssh2 is inside it). */
async function requireSsh2(): Promise<Ssh2> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  return {
    Client: require('ssh2/lib/client.js') as Ssh2['Client'],
    OpenSSHAgent: (require('ssh2/lib/agent.js') as { OpenSSHAgent: Ssh2['OpenSSHAgent'] }).OpenSSHAgent,
    parseKey: (require('ssh2/lib/protocol/keyParser.js') as { parseKey: Ssh2['parseKey'] }).parseKey,
    SFTP: (require('ssh2/lib/protocol/SFTP.js') as { SFTP: Ssh2['SFTP'] }).SFTP,
  };
}
