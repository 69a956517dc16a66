// Targets for the selected hosts and the transport that reaches them: `$.ssh` with the connection
// flags (-l, -p, --identity, -F, --known-hosts, --connect-timeout) over what ssh_config and the
// inventory say; or, with --nats, fleetsh workers through NATS (src/scale-out/, loaded only then).
// Imported only by commands that connect, so `fleetsh hosts` never loads ssh2.
import type { Inventory } from '../inventory/inventory.js';
import { CliUsageError } from './errors.js';
import type { Connect, ServerObject } from '../fleet/target.js';
import { addressName, splitAddress, withHost } from '../process/address.js';
import { printable } from '../process/printable.js';

export interface ConnectionFlags {
  user?: string;
  port?: number;
  identity?: string;
  sshConfig?: string;
  knownHosts?: string;
  connectTimeout?: number;
  /** false with --no-agent. */
  agent?: boolean;
}

/**
 * One target per host of the selection, named as reports name it (`web1:2222`, never the user).
 * The inventory's settings are those of the host; the flags win over them, and what the entry
 * says itself (`deploy@web1:2222`) wins over both, as the most specific.
 */
export function targetsFor(
  hosts: readonly string[],
  flags: ConnectionFlags,
  settings?: (host: string) => object,
): ServerObject[] {
  return hosts.map((entry) => {
    const written = splitAddress(entry);
    const fromInventory: { host?: unknown } = settings?.(written.host) ?? {};
    const target: ServerObject = { ...fromInventory, host: entry, name: addressName(entry) };
    // The inventory's address (ansible_host, address:) is dialled in place of the name.
    if (typeof fromInventory.host === 'string' && fromInventory.host !== written.host)
      target.host = withHost(entry, fromInventory.host);
    if (written.user !== undefined) delete target.username;
    else if (flags.user !== undefined) target.username = flags.user;
    if (written.port !== undefined) delete target.port;
    else if (flags.port !== undefined) target.port = flags.port;
    if (flags.identity !== undefined) target.privateKey = flags.identity;
    if (flags.sshConfig !== undefined) target.sshConfig = flags.sshConfig;
    if (flags.knownHosts !== undefined) target.knownHosts = flags.knownHosts;
    if (flags.connectTimeout !== undefined) target.connectTimeout = flags.connectTimeout;
    return target;
  });
}

export interface Transport {
  connect: Connect;
  /** Closes every pooled connection so the process can end at once. */
  close(): Promise<void>;
}

/**
 * `$.ssh` without the rest of the public surface (tunnels, fleet helpers): ~20 ms less to load.
 * With `agent`, the hosts' connections are the agent's (started on demand, src/agent/); when it
 * cannot be reached or started, one line on stderr says so and the hosts connect directly.
 */
export async function sshTransport(options: { agent?: boolean } = {}): Promise<Transport> {
  const [{ createSsh }, { sshConnect }] = await Promise.all([
    import('../ssh/shell.js'),
    import('../fleet/connect.js'),
  ]);
  const ssh = createSsh();
  const direct: Transport = { connect: sshConnect(ssh), close: () => ssh.close() };
  if (!options.agent || agentDisabled()) return direct;
  const [{ openAgent }, { agentConnect }] = await Promise.all([
    import('../agent/start.js'),
    import('../agent/connect.js'),
  ]);
  let client: Awaited<ReturnType<typeof openAgent>>;
  try {
    client = await openAgent();
  } catch (e) {
    process.stderr.write(
      printable(`fleetsh: connecting directly: the agent is not available (${(e as Error).message})`) + '\n',
    );
    return direct;
  }
  return {
    connect: agentConnect(client, ssh),
    close: async () => {
      client.close();
      await ssh.close();
    },
  };
}

/** --nats and its companions: the fleet's commands run on fleetsh workers (docs/scale-out.md). */
export interface NatsFlags {
  nats?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  natsPrefix?: string;
}

/**
 * With --nats, a transport whose hosts run on fleetsh workers, zoned by the inventory's `zone:`
 * (src/scale-out/, loaded only then); else the SSH transport, through the agent when `agent`.
 */
export async function fleetTransport(
  flags: NatsFlags & { dryRun?: boolean },
  inventory: Inventory | undefined,
  options: { agent?: boolean } = {},
): Promise<Transport> {
  if (flags.nats === undefined) return sshTransport(options);
  const [{ natsConnect }, { hasPassword }] = await Promise.all([
    import('../scale-out/coordinator.js'),
    import('../scale-out/nats.js'),
  ]);
  if (hasPassword(flags.nats)) throw natsPasswordRefused('--nats');
  if (flags.dryRun)
    throw new CliUsageError(
      '--dry-run with --nats: a dry run inspects hosts from this machine, while workers connect with ' +
        "their own keys and ssh_config: run it on a worker's machine, without --nats",
    );
  const tls =
    flags.natsTlsCa !== undefined || flags.natsTlsCert !== undefined || flags.natsTlsKey !== undefined
      ? { ca: flags.natsTlsCa, cert: flags.natsTlsCert, key: flags.natsTlsKey }
      : undefined;
  const connect = natsConnect(
    {
      servers: flags.nats,
      ...(flags.natsCreds !== undefined ? { creds: flags.natsCreds } : {}),
      ...(tls ? { tls } : {}),
      ...(flags.natsPrefix !== undefined ? { prefix: flags.natsPrefix } : {}),
    },
    inventory,
  );
  // The coordinator closes its NATS connection once no job is in flight.
  return { connect, close: async () => {} };
}

/** FLEETSH_NO_AGENT=1 (or any value but '' and '0') turns the agent off, as --no-agent does. */
export function agentDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.FLEETSH_NO_AGENT;
  return v !== undefined && v !== '' && v !== '0';
}

/**
 * Whether a command goes through the agent: not with --no-agent, and not for a dry run, which
 * inspects each host with a connection of its own that stops before login.
 */
export function useAgent(flags: ConnectionFlags & { dryRun?: boolean }): boolean {
  return flags.agent !== false && !flags.dryRun;
}

/** A password in a --nats URL would be kept in the journal and seen by `ps`: a credentials file it is. */
export function natsPasswordRefused(flag: string): CliUsageError {
  return new CliUsageError(
    `${flag}: the URL holds credentials, which would be kept in the run journal and shown by ps: ` +
      'put the credentials in a file (--nats-creds, or --creds for a worker)',
  );
}
