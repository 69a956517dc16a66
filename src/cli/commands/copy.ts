import { CliUsageError } from '../errors.js';

export async function copyCommand(src: string, dest: string, opts: object): Promise<void> {
  void [src];
  throw new CliUsageError('copy: not available yet');
}
