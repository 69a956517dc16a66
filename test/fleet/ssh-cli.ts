// A stand-in SSH transport for the real-sshd tests until `$.ssh` lands: the system ssh client with
// the harness's ssh_config. Exit status 255 with ssh's own messages becomes a ConnectionError.
import { LocalExecutor } from '../../src/local/local-executor.js';
import { quote } from '../../src/command/quote.js';
import { ConnectionError, type ConnectionErrorKind } from '../../src/process/errors.js';
import type { ExecOutcome, ExecRequest, Executor } from '../../src/process/executor.js';
import { makeShell } from '../../src/process/shell.js';
import { targetName, type Connect, type FleetShell } from '../../src/fleet/target.js';
import type { TestFleet } from '../harness/fleet.js';

const local = new LocalExecutor();

function kindOf(stderr: string): ConnectionErrorKind {
  if (/Connection refused/i.test(stderr)) return 'refused';
  if (/timed out/i.test(stderr)) return 'connect-timeout';
  if (/Permission denied/i.test(stderr)) return 'auth';
  if (/IDENTIFICATION HAS CHANGED|Host key verification failed/i.test(stderr)) return 'changed-host-key';
  if (/Could not resolve/i.test(stderr)) return 'dns';
  return 'closed';
}

class SshCliExecutor implements Executor {
  constructor(
    readonly host: string,
    readonly args: string[],
  ) {}
  async exec(req: ExecRequest): Promise<ExecOutcome> {
    const env = Object.entries(req.env ?? {}).map(([k, v]) => `${k}=${quote(v)}`);
    const remote = (req.cwd ? `cd ${quote(req.cwd)} && ` : '') + (env.length ? `export ${env.join(' ')}; ` : '') + req.command;
    let stderr = '';
    const out = await local.exec({
      ...req,
      env: undefined,
      cwd: undefined,
      command: `exec ssh ${this.args.map(quote).join(' ')} ${quote(remote)}`,
      onData: (stream, chunk) => {
        if (stream === 'stderr') stderr += chunk.toString();
        req.onData(stream, chunk);
      },
    });
    if (out.exitCode === 255 && !req.signal.aborted) throw new ConnectionError(kindOf(stderr), this.host, stderr.trim().split('\n').at(-1) ?? '');
    return out;
  }
}

/** A connect function over the system ssh client; targets are harness host names (aliases included). */
export function sshCliConnect(fleet: TestFleet): Connect {
  return (target, options) => {
    const name = targetName(target).replace(/:\d+$/, '');
    const timeout = options.connectTimeout === undefined ? [] : ['-o', `ConnectTimeout=${Math.max(1, Math.round(options.connectTimeout / 1000))}`];
    const args = [...timeout, ...fleet.sshArgs(fleet.host(name))];
    const executor = new SshCliExecutor(name, args);
    return makeShell(executor, {}, () => ({
      async uploadFile(localPath: string, remote: string) {
        const r = await local.exec({
          command: `scp -q ${args.slice(0, -1).map(quote).join(' ')} ${quote(localPath)} ${quote(`${name}:${remote}`)}`,
          signal: new AbortController().signal,
          onData: () => {},
        });
        if (r.exitCode !== 0) throw new ConnectionError('closed', name, `scp exited with ${r.exitCode}`);
      },
    })) as FleetShell;
  };
}
