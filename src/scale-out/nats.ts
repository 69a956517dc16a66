// The NATS client (@nats-io/transport-node and @nats-io/jetstream), loaded on first use: commands
// without --nats and `import 'fleetsh'` never pay for it. NATS is the messaging engine scale-out is
// built on (docs/scale-out.md says why it, and not a home-made protocol); this file only opens a
// connection with the options NATS documents: servers, a credentials file, TLS files.
//
// The CLI bundle (CommonJS) has `require`; the ESM build reaches it through createRequire. Either
// way the packages resolve from node_modules by a name in a variable, which the bundler leaves to
// Node's resolver (scripts/bundle.mjs lists them as externals too).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Transport from '@nats-io/transport-node';
import type * as JetStream from '@nats-io/jetstream';
import { describeIoError } from '../process/io-error.js';
import { UsageError } from '../process/errors.js';

export type NatsConnection = Transport.NatsConnection;

/** How to reach the NATS server, as NATS documents it (`nats --server`, `--creds`, `--tlsca` ...). */
export interface NatsConnectionOptions {
  /** One URL or several (a cluster): `nats://host:4222`, `tls://host:4222`; a comma-separated string works too. */
  servers: string | string[];
  /** A credentials file (the user's JWT and NKey seed), as `nats --creds FILE`. */
  creds?: string;
  /** TLS files: the CA to trust, and a client certificate and its key (mutual TLS). */
  tls?: { ca?: string; cert?: string; key?: string };
}

export interface NatsLibraries {
  transport: typeof Transport;
  jetstream: typeof JetStream;
}

let loaded: NatsLibraries | undefined;

export function loadNats(): NatsLibraries {
  if (loaded) return loaded;
  const req: NodeRequire = typeof require === 'function' ? require : createRequire(import.meta.url);
  const names = ['@nats-io/transport-node', '@nats-io/jetstream']; // variables: see the header
  try {
    loaded = { transport: req(names[0]!) as typeof Transport, jetstream: req(names[1]!) as typeof JetStream };
  } catch (e) {
    throw new UsageError(
      `--nats needs the NATS client (@nats-io/transport-node, @nats-io/jetstream), which did not load ` +
        `(${(e as Error).message.split('\n')[0]}): reinstall fleetsh`,
      { cause: e },
    );
  }
  return loaded;
}

export function serversOf(servers: unknown, where = 'nats.servers'): string[] {
  const list = (Array.isArray(servers) ? servers : typeof servers === 'string' ? servers.split(',') : [])
    .map((s: unknown) => (typeof s === 'string' ? s.trim() : ''))
    .filter((s: string) => s !== '');
  if (list.length === 0)
    throw new UsageError(`option ${where}: expected a NATS server URL like nats://127.0.0.1:4222`);
  return list;
}

/** A server URL as messages show it: credentials in it (nats://user:pass@host, nats://token@host) as `***`. */
export function shown(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1***@');
}

/** Whether a URL carries credentials (the CLI refuses them: flags are kept in the journal and seen in ps). */
export function hasPassword(url: string): boolean {
  return shown(url) !== url;
}

/** The credentials and TLS files, read now: a missing or unreadable one is a UsageError before any host runs. */
export function checkFiles(o: NatsConnectionOptions): void {
  const files: Array<[string, string | undefined]> = [
    ['credentials file', o.creds],
    ['TLS CA file', o.tls?.ca],
    ['TLS certificate file', o.tls?.cert],
    ['TLS key file', o.tls?.key],
  ];
  for (const [what, path] of files) {
    if (path === undefined) continue;
    if (typeof path !== 'string') throw new UsageError(`NATS ${what}: expected a file path`);
    try {
      readFileSync(path);
    } catch (e) {
      throw new UsageError(`NATS ${what} ${path}: ${describeIoError(e)}`);
    }
  }
}

/** What the client is given: the servers, and the credentials and TLS files read now (a bad path is a UsageError here). */
export function connectionOptions(o: NatsConnectionOptions, name: string): Transport.NodeConnectionOptions {
  const { transport } = loadNats();
  const options: Transport.NodeConnectionOptions = {
    servers: serversOf(o.servers),
    name,
    // Reconnects go on for as long as the connection is wanted: the coordinator and the worker
    // bound an outage themselves (outageTimeout), and say so per host.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: 10_000,
  };
  if (o.creds !== undefined) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(o.creds);
    } catch (e) {
      throw new UsageError(`NATS credentials file ${o.creds}: ${describeIoError(e)}`);
    }
    options.authenticator = transport.credsAuthenticator(creds);
  }
  if (o.tls) {
    for (const [k, v] of Object.entries(o.tls))
      if (v !== undefined && typeof v !== 'string')
        throw new UsageError(`option nats.tls.${k}: expected a file path`);
    options.tls = { caFile: o.tls.ca, certFile: o.tls.cert, keyFile: o.tls.key };
  }
  return options;
}

/** Connects; a server that does not answer is an Error naming the servers and the cause. */
export async function openNats(o: NatsConnectionOptions, name: string): Promise<NatsConnection> {
  const options = connectionOptions(o, name);
  try {
    return await loadNats().transport.connect(options);
  } catch (e) {
    throw new NatsUnreachableError(
      `cannot connect to the NATS server ${serversOf(o.servers).map(shown).join(', ')}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

export class NatsUnreachableError extends Error {}
