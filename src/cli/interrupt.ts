// Ctrl-C during a run: the first stops starting hosts and kills the remote commands in flight (the
// run then ends with a partial report); the second exits at once.
import { EXIT } from './exit-codes.js';

export interface Interrupt {
  /** True once the first Ctrl-C (or SIGTERM, or SIGHUP) arrived. */
  readonly interrupted: boolean;
  /** Stops listening; call when the run is over. */
  dispose(): void;
}

export function onInterrupt(
  cancel: (reason: string) => void,
  say: (line: string) => void,
  /** What the first Ctrl-C does, in words. */
  doing = 'starting no more hosts, stopping the commands in flight',
): Interrupt {
  let interrupted = false;
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) {
      say(`fleetsh: ${signal} again: exiting now; commands still running on hosts may be left behind`);
      process.exit(EXIT.interrupted);
    }
    interrupted = true;
    say(`fleetsh: interrupted: ${doing} (Ctrl-C again to exit now)`);
    cancel(`interrupted by ${signal}`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  // The terminal closed: Node would end at once, and the system ssh's clients and masters (in
  // sessions of their own, so the hang-up does not reach them) would keep the commands running.
  process.on('SIGHUP', handler);
  return {
    get interrupted() {
      return interrupted;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.off('SIGHUP', handler);
    },
  };
}
