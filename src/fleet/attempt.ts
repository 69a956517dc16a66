// How one attempt on one host ended: its status, kind and message, whether it signals load to the
// adaptive limit, and a bound on how long a killed task may take to end.
import { ConnectionError, FleetshError, formatMs } from '../process/errors.js';
import { kindOfError, messageOf, statusOfError, type Attempt, type SkipReason } from './host-result.js';

/** The error of a parked host whose run stopped before its connection came back. */
export class StoppedWhileConnecting extends Error {
  constructor() {
    super('stopped while connecting');
  }
}

export interface AttemptEnd {
  host: string;
  ok: boolean;
  error: unknown;
  /** Set when the host's own timeout fired. */
  timedOutAfter: number | undefined;
  /** Set when the run killed the host in flight (deadline, cancel, a stop with inFlight 'kill'). */
  killedBy: SkipReason | undefined;
  stopReason: string | undefined;
  stoppedWhileConnecting: boolean;
}

export function classifyAttempt(a: AttemptEnd): {
  status: Attempt['status'];
  kind: Attempt['kind'];
  message: string | null;
  reason: string | null;
} {
  if (a.ok) return { status: 'ok', kind: null, message: null, reason: null };
  if (a.timedOutAfter !== undefined) {
    const message = `${a.host}: timed out after ${formatMs(a.timedOutAfter)} (option timeout) and was killed`;
    return { status: 'timeout', kind: 'timeout', message, reason: null };
  }
  if (a.killedBy) {
    const deadline = a.killedBy === 'deadline';
    const reason = `killed in flight: ${a.stopReason ?? ''}`;
    return {
      status: deadline ? 'timeout' : 'failed',
      kind: deadline ? 'timeout' : 'cancelled',
      message: `${a.host}: ${reason}`,
      reason,
    };
  }
  if (a.stoppedWhileConnecting) {
    const reason = `stopped while connecting: ${a.stopReason ?? ''}`;
    return { status: 'failed', kind: 'cancelled', message: `${a.host}: ${reason}`, reason };
  }
  return {
    status: statusOfError(a.error),
    kind: kindOfError(a.error),
    message: messageOf(a.error),
    reason: null,
  };
}

/**
 * What an attempt that did not succeed tells the adaptive limit: a connection dropped in the
 * handshake or lost ('dropped': MaxStartups, a server shedding load) or a timeout, connect or
 * command ('timeout'), may be load; refused, DNS, authentication, host keys and exit codes are not.
 */
export function loadSignal(error: unknown, timedOut: boolean): 'dropped' | 'timeout' | 'failed' {
  if (timedOut) return 'timeout';
  if (error instanceof ConnectionError) {
    if (error.kind === 'connect-timeout') return 'timeout';
    return error.kind === 'closed' || error.kind === 'protocol' ? 'dropped' : 'failed';
  }
  return error instanceof FleetshError && error.kind === 'timeout' ? 'timeout' : 'failed';
}

/** How long a killed task may take to end before the host is reported without it. */
const KILL_GRACE_MS = 5000;

/** The task's outcome; once the signal aborts, at most KILL_GRACE_MS more before giving up on it. */
export function withAbortGrace<V>(task: Promise<V>, signal: AbortSignal): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      timer = setTimeout(
        () =>
          reject(
            new FleetshError(
              'timeout',
              `the task did not end within ${formatMs(KILL_GRACE_MS)} of being killed`,
            ),
          ),
        KILL_GRACE_MS,
      );
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    task.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    });
  });
}
