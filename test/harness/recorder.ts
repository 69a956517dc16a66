// What a real sshd was asked to run: a ForceCommand wrapper writes one line per session to a log
// ("sftp", or "command" and the start of the command line), then runs what was asked. SFTP sessions
// run OpenSSH's sftp-server logging every request (DEBUG3) to a file of their own; with
// `plainSftp` they see the server through a filter that drops the extensions its VERSION message
// offers (fsync@openssh.com, posix-rename@openssh.com, ...), as an older or a minimal server would;
// with `beforeCommand`, shell lines run before each command (a host that changes a file meanwhile).
//
//   const rec = recorder(dir);
//   const tf = await startFleet({ healthy: 1, extraSshdConfig: rec.sshdConfig });
//   ... rec.sessions()  // ['sftp', 'command export FLEETSH_JOB=... sum=$(sha256sum -- ...']
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

export interface Recorder {
  /** For startFleet's extraSshdConfig. */
  sshdConfig: string;
  /** One entry per session, in order: 'sftp', or 'command ' and the command's first 400 bytes on one line. */
  sessions(): string[];
  /** sftp-server's log of every request (open, write, fsync, posix-rename, rename, ...). */
  sftpLog(): string;
  /** Forgets what was recorded so far. */
  clear(): void;
}

export function recorderAvailable(): boolean {
  return existsSync(SFTP_SERVER);
}

export interface RecorderOptions {
  /** SFTP without extensions: no fsync@openssh.com, no posix-rename@openssh.com. */
  plainSftp?: boolean;
  /** Shell lines run before each command (not before SFTP sessions): a host that changes files. */
  beforeCommand?: string;
}

export function recorder(dir: string, options: RecorderOptions = {}): Recorder {
  const sessions = join(dir, 'sessions.log');
  const sftpLog = join(dir, 'sftp-server.log');
  const wrapper = join(dir, 'record-session.sh');
  const filter = join(dir, 'plain-sftp.cjs');
  const server = `${SFTP_SERVER} -e -l DEBUG3`;
  const sftp = options.plainSftp ? `${process.execPath} ${filter} ${server}` : server;
  writeFileSync(
    wrapper,
    `#!/bin/sh
case "$SSH_ORIGINAL_COMMAND" in
  ${SFTP_SERVER}) echo sftp >> ${sessions}; exec ${sftp} 2>> ${sftpLog} ;;
  *) printf 'command %s\\n' "$(printf %s "$SSH_ORIGINAL_COMMAND" | head -c 400 | tr '\\n' ' ')" >> ${sessions}
     ${options.beforeCommand ?? ':'}
     exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;
esac
`,
  );
  chmodSync(wrapper, 0o755);
  // The server's first packet is its VERSION (length, type 2, version, then extension pairs): it
  // goes on as version 3 with no extension; every other byte passes unchanged both ways.
  writeFileSync(
    filter,
    `const { spawn } = require('node:child_process');
const [cmd, ...args] = process.argv.slice(2);
const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.pipe(child.stdin);
let head = Buffer.alloc(0);
let passing = false;
child.stdout.on('data', (d) => {
  if (passing) return void process.stdout.write(d);
  head = Buffer.concat([head, d]);
  if (head.length < 4 || head.length < 4 + head.readUInt32BE(0)) return;
  const rest = head.subarray(4 + head.readUInt32BE(0));
  process.stdout.write(Buffer.from([0, 0, 0, 5, 2, 0, 0, 0, 3]));
  if (rest.length) process.stdout.write(rest);
  passing = true;
});
child.on('exit', (code) => process.stdout.end(() => process.exit(code ?? 1)));
`,
  );
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  return {
    sshdConfig: `Subsystem sftp ${SFTP_SERVER}\nForceCommand ${wrapper}`,
    sessions: () => read(sessions).split('\n').filter(Boolean),
    sftpLog: () => read(sftpLog),
    clear: () => {
      writeFileSync(sessions, '');
      writeFileSync(sftpLog, '');
    },
  };
}
