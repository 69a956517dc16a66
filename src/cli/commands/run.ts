import { CliUsageError } from '../errors.js';

export async function runCommand(words: string[], opts: object): Promise<void> {
  void [words];
  throw new CliUsageError('run: not available yet');
}
