// An inventory host as SSH target options: the one place where the inventory's names for connection
// settings (address, user, identity, vars) become those of `$.ssh` (host, username, privateKey, env). The fleet's
// `inventory` option and the CLI both take their targets from here. Nothing here connects anywhere.
import { isEnvName } from '../process/env.js';
import { UsageError } from '../process/errors.js';
import type { SshTargetOptions } from '../ssh/types.js';
import type { HostSettings } from './inventory-file.js';

/**
 * A host of the inventory as a fleet target: `$.ssh` options from its settings (`host` is what is
 * dialled: its `address` if it has one, else its name), the name it is reported under (the host as
 * the inventory names it, whatever its address and port), and its vars as the environment of every
 * command run on it.
 */
export type InventoryTarget = Pick<
  SshTargetOptions,
  'host' | 'username' | 'port' | 'hostKeyPolicy' | 'transport' | 'forwardAgent'
> & {
  name: string;
  /** The identity file: absolute, or starting with `~`. */
  privateKey?: string;
  /** ProxyJump syntax: `bastion`, `deploy@a:2222,b`. */
  jump?: string;
  /** Milliseconds. */
  connectTimeout?: number;
  /** The host's vars: text as it is, other values as JSON. */
  env?: Record<string, string>;
};

/** `settings` (Inventory#settingsFor) of `host` as a target; a var that cannot be an environment variable is a UsageError. */
export function inventoryTarget(host: string, settings: HostSettings): InventoryTarget {
  const target: InventoryTarget = { host: settings.address ?? host, name: host };
  if (settings.user !== undefined) target.username = settings.user;
  if (settings.port !== undefined) target.port = settings.port;
  if (settings.identity !== undefined) target.privateKey = settings.identity;
  if (settings.jump !== undefined) target.jump = settings.jump;
  if (settings.hostKeyPolicy !== undefined) target.hostKeyPolicy = settings.hostKeyPolicy;
  if (settings.connectTimeout !== undefined) target.connectTimeout = settings.connectTimeout;
  if (settings.transport !== undefined) target.transport = settings.transport;
  if (settings.forwardAgent !== undefined) target.forwardAgent = settings.forwardAgent;
  const env = environment(host, settings.vars);
  if (env) target.env = env;
  return target;
}

function environment(host: string, vars: Record<string, unknown>): Record<string, string> | undefined {
  const entries = Object.entries(vars);
  if (entries.length === 0) return undefined;
  const env: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!isEnvName(name)) {
      throw new UsageError(
        `${host}: inventory variable ${JSON.stringify(name)} cannot be an environment variable name; ` +
          'use letters, digits and _ (not starting with a digit)',
        { host },
      );
    }
    env[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return env;
}
