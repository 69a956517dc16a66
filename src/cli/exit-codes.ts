// The exit statuses of `fleetsh`, documented in docs/cli.md. Scripts branch on them, so they never
// change meaning: 0 all good, 1 a command failed, 2 a host could not be reached, 64 bad usage,
// 130 interrupted (128 + SIGINT, as shells report it), 141 stdout closed (128 + SIGPIPE).

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
