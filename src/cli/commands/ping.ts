import { CliUsageError } from '../errors.js';

export async function pingCommand(opts: object): Promise<void> {
  void [opts];
  throw new CliUsageError('ping: not available yet');
}
