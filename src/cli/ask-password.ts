// `--ask-sudo-pass`: asks for a password once, on the terminal itself (/dev/tty, as sudo and ssh
// do: stdin and stderr may be pipes or files), without echo. The password stays in this process:
// it is handed to the library, never to a command line or an environment.
import { openSync, writeSync } from 'node:fs';
import tty from 'node:tty';
import { FleetshError } from '../process/errors.js';
import { CliUsageError } from './errors.js';

const ENTER = new Set(['\r', '\n']);
const ERASE = new Set(['\x7f', '\b']);

/** Reads one line from the terminal without echo; Ctrl-C cancels (exit 130), Ctrl-U starts over. */
export async function askPassword(prompt: string, flag: string): Promise<string> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    throw new CliUsageError(`${flag}: no terminal to ask on (fleetsh has no controlling terminal)`);
  }
  const input = new tty.ReadStream(fd);
  input.setRawMode(true);
  writeSync(fd, prompt);
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      input.setEncoding('utf8');
      input.on('error', reject);
      input.on('end', () =>
        reject(new CliUsageError(`${flag}: the terminal closed before a password was given`)),
      );
      input.on('data', (text: string) => {
        for (const ch of text) {
          if (ENTER.has(ch)) {
            if (typed === '') return reject(new CliUsageError(`${flag}: no password was given`));
            return resolve(typed);
          }
          if (ch === '\x03')
            return reject(new FleetshError('cancelled', 'interrupted while asking for the sudo password'));
          if (ch === '\x04' && typed === '')
            return reject(new CliUsageError(`${flag}: no password was given`));
          if (ERASE.has(ch)) typed = [...typed].slice(0, -1).join('');
          else if (ch === '\x15') typed = '';
          else if (ch >= ' ') typed += ch;
        }
      });
    });
  } finally {
    input.setRawMode(false);
    writeSync(fd, '\n');
    input.destroy();
  }
}
