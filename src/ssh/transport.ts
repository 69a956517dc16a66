// Which transport carries a resolved target's connections: the one place that decides, so that a
// choice made from the target's ssh_config (a CertificateFile, an sk- key, GSSAPI: what ssh2 cannot
// do, listed by openssh-needs.ts) is made here and every caller follows it.
//
// The `transport` option (of the target, its inventory group, or --transport) always wins. Without
// it, a host whose config needs OpenSSH goes through the system ssh, and every other host through
// ssh2. When the system ssh is not installed, a host that needs it fails here, saying so.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { ConnectionError } from '../process/errors.js';
import { describeNeeds } from './openssh-needs.js';
import type { ResolvedTarget, SshTransport, TransportChoice } from './types.js';

export type { TransportChoice } from './types.js';

/** The choice as data, for dry runs and notices. */
export function transportChoice(target: ResolvedTarget): TransportChoice {
  const needs = target.opensshNeeds;
  if (target.transport !== undefined) return { transport: target.transport, by: 'option', needs };
  if (needs.length > 0) return { transport: 'openssh', by: 'ssh-config', needs };
  return { transport: 'ssh2', by: 'default', needs };
}

/**
 * The target's transport. Throws a ConnectionError `config` when it is OpenSSH and no `ssh` is on
 * the PATH: the host cannot be reached as its config says, and the message says what to install.
 */
export function chooseTransport(target: ResolvedTarget): SshTransport {
  const choice = transportChoice(target);
  if (choice.transport === 'openssh' && !sshOnPath()) throw sshMissing(target, choice);
  return choice.transport;
}

/** The choice in words, for a notice: `openssh, because its ssh_config asks for ...`. */
export function describeChoice(choice: TransportChoice): string {
  const needs = describeNeeds(choice.needs);
  if (choice.by === 'ssh-config') return `${choice.transport}, because its ssh_config asks for ${needs}`;
  if (choice.by === 'option')
    return `${choice.transport} (the transport option)${
      choice.transport === 'ssh2' && needs
        ? `, though its ssh_config asks for ${needs}, which ssh2 cannot use`
        : ''
    }`;
  return choice.transport;
}

function sshMissing(target: ResolvedTarget, choice: TransportChoice): ConnectionError {
  const why =
    choice.by === 'ssh-config'
      ? `its ssh_config asks for ${describeNeeds(choice.needs)}, which only the OpenSSH transport can use`
      : "transport 'openssh' was asked for";
  return new ConnectionError(
    'config',
    target.label,
    `${why}, and the system ssh is not installed (no ssh on the PATH)`,
    {
      hint:
        choice.by === 'ssh-config'
          ? "Install OpenSSH's client (apt-get install openssh-client; dnf install openssh-clients), or set transport: 'ssh2' (--transport ssh2) to try without it."
          : "Install OpenSSH's client (apt-get install openssh-client; dnf install openssh-clients), or use transport 'ssh2'.",
      stage: 'resolve',
    },
  );
}

let checkedPath: { value: string | undefined; found: boolean } | undefined;

/** Whether an executable `ssh` is on the PATH (as spawn would find it); checked again when PATH changes. */
export function sshOnPath(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.PATH;
  const last = checkedPath;
  if (last && last.value === value) return last.found;
  // Without PATH, execvp looks in the system's default path.
  const found = (value ?? '/usr/bin:/bin').split(path.delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(path.join(dir, 'ssh'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  checkedPath = { value, found };
  return found;
}
