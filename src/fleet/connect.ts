// The default transport of `$.fleet` and `$.rolling`: `$.ssh`, with the fleet's connectTimeout
// given to each target that does not set its own. A string target is the SSH layer's
// `{ host: 'user@host:port' }`: it parses the user and port itself.
import type { Connect, FleetShell } from './target.js';

// `any`: the SSH layer validates its own target options; the fleet passes them through.
export type SshFactory = (target: any) => FleetShell;

export function sshConnect(ssh: SshFactory): Connect {
  return (target, options) => {
    if (typeof target === 'string' && options.connectTimeout === undefined) return ssh(target);
    const { name: _name, env, ...rest } = typeof target === 'string' ? { host: target } : target;
    if (options.connectTimeout !== undefined && rest.connectTimeout === undefined)
      rest.connectTimeout = options.connectTimeout;
    // A target's own `env` (the inventory's vars, say) reaches every command run on it.
    const shell = ssh(rest);
    return env && typeof env === 'object' ? shell.env(env as Record<string, string>) : shell;
  };
}
