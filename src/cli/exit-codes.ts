// The exit statuses of `fleetsh`, documented in docs/cli.md. Scripts branch on them, so they never
// change meaning: 0 all good, 1 a command failed, 2 a host could not be reached, 64 bad usage,
// 130 interrupted (128 + SIGINT, as shells report it), 141 stdout closed (128 + SIGPIPE). With -S
// the largest remote exit status instead (maxExitCodeFor), as pdsh -S.
import { constants } from 'node:os';

export const EXIT = {
  /** Every host succeeded. */
  ok: 0,
  /** At least one command failed, was killed or timed out (or was skipped after a failure), every host reached. */
  failed: 1,
  /** At least one host was unreachable (takes precedence over 1). */
  unreachable: 2,
  /** Bad arguments, a malformed host set, an invalid inventory. */
  usage: 64,
  /** A bug or an unexpected error inside fleetsh (EX_SOFTWARE). */
  internal: 70,
  /** Interrupted with Ctrl-C; the partial report was printed. */
  interrupted: 130,
  /** Stdout's reader went away (`| head`): stopped as on Ctrl-C, nothing more printed (128 + SIGPIPE). */
  outputClosed: 141,
} as const;

export interface OutcomeCounts {
  total: number;
  ok: number;
  failed: number;
  timeout: number;
  unreachable: number;
  skipped: number;
}

/** The status of a finished (not interrupted) run from its counts. */
export function exitCodeFor(counts: OutcomeCounts): number {
  if (counts.unreachable > 0) return EXIT.unreachable;
  if (counts.failed > 0 || counts.timeout > 0 || counts.skipped > 0) return EXIT.failed;
  return EXIT.ok;
}

/** What -S reads of a host's result. */
export interface HostExit {
  status: 'ok' | 'failed' | 'timeout' | 'unreachable' | 'skipped';
  exitCode: number | null;
  signal: string | null;
}

/** -S statuses for hosts without a remote exit status of their own. */
export const MAX_EXIT = {
  /** As GNU timeout(1) exits when it killed the command. */
  timeout: 124,
  /** As ssh(1) exits when it could not reach the host, which is what pdsh -S then returns. */
  unreachable: 255,
  /** Never started (a failure budget, --fail-fast, --deadline): not a success. */
  skipped: 1,
} as const;

/**
 * `-S/--max-exit`, as pdsh -S: the largest exit status of the remote commands, 0 when all
 * succeeded. A command killed by a signal counts as 128 + its number (as shells report it), a
 * timeout as 124, an unreachable host as 255 and a host never started as 1.
 */
export function maxExitCodeFor(results: readonly HostExit[]): number {
  let max = 0;
  for (const h of results) max = Math.max(max, hostExitCode(h));
  return max;
}

function hostExitCode(h: HostExit): number {
  switch (h.status) {
    case 'ok':
      return 0;
    case 'timeout':
      return MAX_EXIT.timeout;
    case 'unreachable':
      return MAX_EXIT.unreachable;
    case 'skipped':
      return MAX_EXIT.skipped;
    case 'failed': {
      if (h.exitCode !== null && h.exitCode > 0) return h.exitCode;
      const signo = h.signal === null ? undefined : constants.signals[h.signal as NodeJS.Signals];
      // A host that failed without a status of its own (a health check after a command that exited 0): 1.
      return signo === undefined ? 1 : 128 + signo;
    }
  }
}
