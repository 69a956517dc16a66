// The default transport of `$.fleet` and `$.rolling`: `$.ssh`, with the fleet's connectTimeout
// given to each target that does not set its own.
import type { Connect, FleetShell, ServerObject } from './target.js';

// `any`: the SSH layer validates its own target options; the fleet passes them through.
export type SshFactory = (target: any) => FleetShell;

/** Splits `user@host:port` (or `[v6]:port`) into a target object. */
export function parseTargetString(text: string): ServerObject {
  const at = text.lastIndexOf('@');
  const user = at >= 0 ? text.slice(0, at) : undefined;
  const rest = at >= 0 ? text.slice(at + 1) : text;
  const m = /^\[(.+)\]:(\d+)$/.exec(rest) ?? /^([^:]+):(\d+)$/.exec(rest);
  const out: ServerObject = { host: m ? m[1]! : rest.replace(/^\[(.+)\]$/, '$1') };
  if (m) out.port = Number(m[2]);
  if (user) out.username = user;
  return out;
}

export function sshConnect(ssh: SshFactory): Connect {
  return (target, options) => {
    if (typeof target === 'string' && options.connectTimeout === undefined) return ssh(target);
    const { name: _name, env, ...rest } = typeof target === 'string' ? parseTargetString(target) : target;
    if (options.connectTimeout !== undefined && rest.connectTimeout === undefined)
      rest.connectTimeout = options.connectTimeout;
    // A target's own `env` (the inventory's vars, say) reaches every command run on it.
    const shell = ssh(rest);
    return env && typeof env === 'object' ? shell.env(env as Record<string, string>) : shell;
  };
}
