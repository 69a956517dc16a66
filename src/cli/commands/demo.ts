import { CliUsageError } from '../errors.js';

export async function demoCommand(opts: object): Promise<void> {
  void [opts];
  throw new CliUsageError('demo: not available yet');
}
