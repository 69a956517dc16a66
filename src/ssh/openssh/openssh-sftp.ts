// File transfer over the OpenSSH transport: each SFTP session is `ssh -s host sftp`, a client on the
// host's ControlMaster (one more channel on its connection, no handshake), and the transfer is
// sftp.ts's, through sftp-stdio.ts (ssh2's SFTP client over the client's pipes). A session takes
// one of the master's session slots, as a command does, and gives it back when its process ends.
import { spawn } from 'node:child_process';
import type { SftpSource } from '../sftp.js';
import { processSftp } from '../sftp-stdio.js';
import { clientEnv, SSH_BINARY, type ControlMaster } from './control-master.js';
import type { OpensshExecutor } from './openssh-executor.js';

/** The SFTP sessions of a target reached through the system ssh. */
export function opensshSftp(executor: OpensshExecutor): SftpSource {
  return processSftp(executor.host, async (signal) => {
    const master = await executor.master(signal);
    const release = await master.sessions.acquire({ signal });
    try {
      // Its own process group: Ctrl-C reaches fleetsh, which ends the transfer itself.
      const child = spawn(SSH_BINARY, subsystemArgs(master), {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        env: clientEnv(undefined),
      });
      return { child, release };
    } catch (e) {
      release();
      throw e;
    }
  });
}

/**
 * `ssh -s` on the master. No terminal and no escape character: the pipes carry binary SFTP packets.
 * RemoteCommand none: one in ssh_config would refuse the subsystem. LogLevel ERROR keeps ssh's
 * notices off stderr, which is kept for messages.
 */
function subsystemArgs(master: ControlMaster): string[] {
  return [
    ...master.common,
    '-S',
    master.socket,
    '-o',
    'ControlMaster=no',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'RemoteCommand=none',
    '-T',
    '-s',
    '--',
    master.host,
    'sftp',
  ];
}
