// `ssh.sudo\`cmd\``: runs a command as root through sudo. The password (sudoPassword, else
// password) never appears on a command line: a shell reads it from the channel's stdin into a
// variable, hands it to `sudo -S -v` through a pipe from the shell's own printf (a builtin, so no
// process shows it), and then runs the command with `sudo -n` on the credentials just validated.
// The rest of stdin goes to the command.
import { buildCommand } from '../command/template.js';
import { quote } from '../command/quote.js';
import { CommandPromise, type CommandOptions } from '../process/command-promise.js';
import type { ExecRequest, ExecOutcome, Executor } from '../process/executor.js';
import type { Shell } from '../command/shell.js';
import { Readable } from 'node:stream';
import type { SshExecutor } from './ssh-executor.js';

export type SudoTemplate = (strings: TemplateStringsArray, ...values: unknown[]) => CommandPromise;

export function sudoCommand(command: string, user = 'root'): string {
  const inner = quote(command);
  return (
    `IFS= read -r __fleetsh_pw || true; ` +
    `if [ -n "$__fleetsh_pw" ]; then printf '%s\\n' "$__fleetsh_pw" | sudo -S -p '' -v -u ${quote(user)} 2>/dev/null; fi; ` +
    // Not `exec`: both sudo runs must have this shell as parent (sudo's credential cache without a
    // terminal is per parent process).
    `unset __fleetsh_pw; sudo -n -u ${quote(user)} -- /bin/sh -c ${inner}; exit $?`
  );
}

class SudoExecutor implements Executor {
  constructor(
    private readonly inner: Executor,
    private readonly password: () => Promise<string | undefined>,
  ) {}
  get host(): string {
    return this.inner.host;
  }
  async exec(req: ExecRequest): Promise<ExecOutcome> {
    const pw = (await this.password()) ?? '';
    const first = Buffer.from(pw.replace(/[\r\n]/g, '') + '\n');
    let stdin: ExecRequest['stdin'];
    if (req.stdin === undefined) stdin = first;
    else if (req.stdin instanceof Readable) {
      const rest = req.stdin;
      stdin = Readable.from(
        (async function* () {
          yield first;
          for await (const chunk of rest) yield chunk;
        })(),
      );
    } else stdin = Buffer.concat([first, Buffer.from(req.stdin)]);
    return this.inner.exec({ ...req, stdin });
  }
}

export function makeSudo(executor: SshExecutor, _shell: Shell, options: CommandOptions): SudoTemplate {
  const sudoExec = new SudoExecutor(executor, async () => {
    const t = await executor.target();
    return t.sudoPassword ?? t.password;
  });
  return (strings, ...values) => {
    const command = buildCommand(strings, values);
    const p = new CommandPromise(sudoExec, sudoCommand(command), options);
    return p;
  };
}
