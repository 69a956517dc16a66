// Targets for the selected hosts and the transport that reaches them: `$.ssh` with the connection
// flags (-l, -p, --identity, -F, --known-hosts, --connect-timeout, --transport) over what ssh_config and the
// inventory say; or, with --nats, fleetsh workers through NATS (src/scale-out/, loaded only then).
// Imported only by commands that connect, so `fleetsh hosts` never loads ssh2.
import type { Inventory } from '../inventory/inventory.js';
import { CliUsageError } from './errors.js';
import type { Connect, ServerObject } from '../fleet/target.js';
import type { SshShell } from '../ssh/shell.js';
import type { ResolvedTarget } from '../ssh/types.js';
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
  /** -A: forward the ssh-agent to every host. */
  forwardAgent?: boolean;
  /** --transport: what carries every host's connection (over the inventory's transport). */
  transport?: 'ssh2' | 'openssh';
  /** -v: say on stderr which transport each host takes when something chose it, and why. */
  verbose?: boolean;
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
    if (flags.forwardAgent) target.forwardAgent = true;
    if (flags.transport !== undefined) target.transport = flags.transport;
    return target;
  });
}

export interface Transport {
  connect: Connect;
  /** Closes every pooled connection so the process can end at once. */
  close(): Promise<void>;
  /**
   * Closes each host's direct connection as soon as the run has the host's result, for a command
   * that does one task per host and then exits (run, copy): nothing in this process uses it again.
   * Through the agent, connections stay: they are the agent's to keep warm.
   */
  releaseEachHost(run: HostEnds): void;
  /** Connections open or opening (direct ones). */
  openConnections(): number;
}

/** The events of a fleet run that say a host is done (its last word). */
export interface HostEnds {
  on(
    event: 'server:success' | 'server:error' | 'server:skipped',
    listener: (p: { server: string }) => void,
  ): unknown;
}

/**
 * `$.ssh` without the rest of the public surface (tunnels, fleet helpers): ~20 ms less to load.
 * With `agent`, the hosts' connections are the agent's (started on demand, src/agent/); when it
 * cannot be reached or started, one line on stderr says so and the hosts connect directly.
 */
export async function sshTransport(options: { agent?: boolean; verbose?: boolean } = {}): Promise<Transport> {
  const transport = await connectTransport(options);
  if (!options.verbose) return transport;
  const [{ createSsh }, { sshConnect }, { describeChoice, transportChoice }] = await Promise.all([
    import('../ssh/shell.js'),
    import('../fleet/connect.js'),
    import('../ssh/transport.js'),
  ]);
  // A reading of each target here, whatever carries it (the agent too): no connection, no secret.
  const local = sshConnect(createSsh());
  const told = new Set<string>();
  const connect: Connect = (target, o) => {
    const shell = local(target, o) as { resolve?: () => Promise<ResolvedTarget> };
    void shell.resolve?.().then(
      (t) => {
        const choice = transportChoice(t);
        if (choice.by === 'default' || told.has(t.label)) return;
        told.add(t.label);
        process.stderr.write(printable(`fleetsh: ${t.label}: transport ${describeChoice(choice)}`) + '\n');
      },
      () => {}, // the run itself reports a target that cannot be resolved
    );
    return transport.connect(target, o);
  };
  return { ...transport, connect };
}

async function connectTransport(options: { agent?: boolean }): Promise<Transport> {
  const [{ createSsh }, { SshPool }, { sshConnect }] = await Promise.all([
    import('../ssh/shell.js'),
    import('../ssh/pool.js'),
    import('../fleet/connect.js'),
  ]);
  const ssh = createSsh(new SshPool({ onWarning: printWarning }));
  // Each host's shell by its name (the fleet's events name hosts so), to find its connection.
  const shells = new Map<string, SshShell>();
  const connect = sshConnect(ssh);
  const direct: Transport = {
    connect: (target, o) => {
      const shell = connect(target, o) as SshShell;
      if (typeof target === 'object' && typeof target.name === 'string') shells.set(target.name, shell);
      return shell;
    },
    close: () => ssh.close(),
    openConnections: () => ssh.pool.size,
    // Without it, all connections stay open to the end and are closed there together: 200 hosts
    // cold took 120 ms of this process (a DISCONNECT each, each waking its sshd) after the last
    // host, before the summary and the exit (node --cpu-prof, 2 CPUs); closed as hosts end, that
    // work overlaps the hosts still running.
    releaseEachHost: (run) => {
      const release = (p: { server: string }) => {
        const shell = shells.get(p.server);
        shells.delete(p.server);
        shell?.resolve().then(
          (t) => ssh.pool.release(t),
          () => {}, // never resolved: no connection to release
        );
      };
      run.on('server:success', release);
      run.on('server:error', release);
      run.on('server:skipped', release);
    },
  };
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
  client.onWarning = printWarning;
  return {
    connect: agentConnect(client, ssh),
    close: async () => {
      client.close();
      await ssh.close();
    },
    releaseEachHost: () => {},
    openConnections: () => ssh.pool.size,
  };
}

/** The SSH layer's one-time warnings (ssh_config keywords not honoured, unverified host keys): one line each. */
export function printWarning(message: string): void {
  process.stderr.write(printable(`fleetsh: warning: ${message.replace(/^fleetsh: /, '')}`) + '\n');
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
  options: { agent?: boolean; verbose?: boolean } = {},
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
  // No connection of this process to release or count: the workers hold them.
  return { connect, close: async () => {}, releaseEachHost: () => {}, openConnections: () => 0 };
}

/** FLEETSH_NO_AGENT=1 (or any value but '' and '0') turns the agent off, as --no-agent does. */
export function agentDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.FLEETSH_NO_AGENT;
  return v !== undefined && v !== '' && v !== '0';
}

/**
 * Whether a command goes through the agent: not with --no-agent, not for a dry run, which
 * inspects each host with a connection of its own that stops before login, and not over the
 * OpenSSH transport (whose ControlMasters already keep each host's connection).
 */
export function useAgent(flags: ConnectionFlags & { dryRun?: boolean }): boolean {
  return flags.agent !== false && !flags.dryRun && flags.transport !== 'openssh';
}

/** A password in a --nats URL would be kept in the journal and seen by `ps`: a credentials file it is. */
export function natsPasswordRefused(flag: string): CliUsageError {
  return new CliUsageError(
    `${flag}: the URL holds credentials, which would be kept in the run journal and shown by ps: ` +
      'put the credentials in a file (--nats-creds, or --creds for a worker)',
  );
}
