// A shell is a callable tagged template bound to one transport with default options:
// `$` for this machine, `$.ssh(host)` for a remote one. `.with()` derives a new shell.
import { CommandPromise, validateEnv, type CommandOptions } from '../process/command-promise.js';
import { ptyOf, sudoOf } from '../process/exec-options.js';
import type { Executor } from '../process/executor.js';
import { buildCommand } from './template.js';

export interface Shell {
  (strings: TemplateStringsArray, ...values: unknown[]): CommandPromise;
  /** The host this shell runs on: 'local' or the SSH target's name. */
  readonly host: string;
  readonly options: Readonly<CommandOptions>;
  /** A shell with other defaults for its commands (nothrow, timeout, env, cwd, verbose, maxOutput, pty, sudo). */
  with(options: CommandOptions): this;
  /** A shell whose commands get these environment variables too. */
  env(vars: Record<string, string | number | boolean | undefined>): this;
  /** A shell whose commands run in this directory. */
  cd(dir: string): this;
}

/**
 * Makes a shell. `extend` adds transport-specific methods (uploadFile for SSH, ...); it is called
 * again for each derived shell, so those methods see the derived options.
 */
export function makeShell<X extends object>(
  executor: Executor,
  options: CommandOptions,
  extend: (shell: Shell, options: CommandOptions) => X = () => ({}) as X,
): Shell & X {
  const run = (strings: TemplateStringsArray, ...values: unknown[]) =>
    new CommandPromise(executor, buildCommand(strings, values), options);
  const derive = (patch: CommandOptions) => makeShell(executor, { ...options, ...patch }, extend);
  const shell = Object.assign(run, {
    host: executor.host,
    options: Object.freeze({ ...options }),
    with: (patch: CommandOptions) => derive(checked(patch, options, executor.host)),
    env: (vars: Record<string, string | number | boolean | undefined>) =>
      derive({ env: { ...options.env, ...validateEnv(vars, executor.host) } }),
    cd: (dir: string) => derive({ cwd: dir }),
  }) as unknown as Shell;
  return Object.assign(shell, extend(shell, options)) as Shell & X;
}

/** A `.with()` patch validated now (not when a command runs), env merged, sudo's password hidden. */
function checked(patch: CommandOptions, options: CommandOptions, host: string): CommandOptions {
  const out = { ...patch };
  if (patch.env) out.env = { ...options.env, ...validateEnv(patch.env, host) };
  if (patch.pty !== undefined) ptyOf(patch.pty, `${host}: pty`);
  if (patch.sudo !== undefined) out.sudo = sudoOf(patch.sudo, `${host}: sudo`) ?? false;
  return out;
}
