// --sudo, --sudo-user, --ask-sudo-pass and --tty: the fleet options `sudo` and `pty`. The password
// is asked once, on the terminal, and goes to the library only (sent to a host over its channel
// when its sudo asks). --sudo-user and --ask-sudo-pass imply --sudo.
import type { FleetOptions } from '../fleet/options.js';
import { isSudoUser, sudoOf, type SudoOptions } from '../process/exec-options.js';
import { askPassword } from './ask-password.js';
import { CliUsageError } from './errors.js';

export interface PrivilegeFlags {
  sudo?: boolean;
  sudoUser?: string;
  askSudoPass?: boolean;
  tty?: boolean;
}

/**
 * The fleet options for the flags; asks for the password when --ask-sudo-pass says so, unless
 * `ask` is false (a dry run, which runs no command).
 */
export async function privilegeOptions(
  flags: PrivilegeFlags,
  ask = true,
): Promise<Pick<FleetOptions, 'sudo' | 'pty'>> {
  const options: Pick<FleetOptions, 'sudo' | 'pty'> = {};
  if (flags.tty) options.pty = true;
  if (!flags.sudo && flags.sudoUser === undefined && !flags.askSudoPass) return options;
  const sudo: SudoOptions = {};
  if (flags.sudoUser !== undefined) {
    sudo.user = flags.sudoUser;
    // A bad name fails before the password is asked.
    if (!isSudoUser(flags.sudoUser))
      throw new CliUsageError(`--sudo-user: expected a user name, got ${JSON.stringify(flags.sudoUser)}`);
  }
  if (flags.askSudoPass && ask)
    sudo.password = await askPassword('fleetsh: sudo password: ', '--ask-sudo-pass');
  options.sudo = sudoOf(sudo, '--sudo');
  return options;
}
