// Which transport carries a resolved target's connections: the one place that decides, so that a
// choice made from the target's ssh_config (a CertificateFile, an sk- key, GSSAPI: what ssh2 cannot
// do) is added here and every caller follows it.
import type { ResolvedTarget, SshTransport } from './types.js';

/** The target's `transport` option when given, else `ssh2`. */
export function chooseTransport(target: ResolvedTarget): SshTransport {
  return target.transport ?? 'ssh2';
}
