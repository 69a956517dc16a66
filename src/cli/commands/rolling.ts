import { CliUsageError } from '../errors.js';

export async function rollingCommand(words: string[], opts: object): Promise<void> {
  void [words];
  throw new CliUsageError('rolling: not available yet');
}
