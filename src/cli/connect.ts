// Targets for the selected hosts and the transport that reaches them: `$.ssh` with the connection
// flags (-l, -p, --identity, -F, --known-hosts, --connect-timeout) over what ssh_config and the
// inventory say. Imported only by commands that connect, so `fleetsh hosts` never loads ssh2.
import type { Connect, ServerObject } from '../fleet/target.js';

export interface ConnectionFlags {
  user?: string;
  port?: number;
  identity?: string;
  sshConfig?: string;
  knownHosts?: string;
  connectTimeout?: number;
}

/** One target per host: the flags win over the inventory's settings for the host. */
export function targetsFor(
  hosts: readonly string[],
  flags: ConnectionFlags,
  settings?: (host: string) => object,
): ServerObject[] {
  return hosts.map((host) => {
    // The inventory's target dials its address when it has one.
    const target: ServerObject = { host, ...(settings?.(host) ?? {}), name: host };
    if (flags.user !== undefined) target.username = flags.user;
    if (flags.port !== undefined) target.port = flags.port;
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

/** `$.ssh` without the rest of the public surface (tunnels, fleet helpers): ~20 ms less to load. */
export async function sshTransport(): Promise<Transport> {
  const [{ createSsh }, { sshConnect }] = await Promise.all([
    import('../ssh/shell.js'),
    import('../fleet/connect.js'),
  ]);
  const ssh = createSsh();
  return { connect: sshConnect(ssh), close: () => ssh.close() };
}
