// Errors across the agent's socket. The agent makes them with the same code as a direct connection
// (src/ssh/), so the CLI rebuilds them as the same classes with the same fields and message: a
// report, its events and the exit code are the same with and without the agent.
import {
  CancelledError,
  ConnectionError,
  FleetshError,
  UsageError,
  type ConnectionErrorKind,
  type ConnectionStage,
  type ErrorKind,
} from '../process/errors.js';
import { TransferError } from '../ssh/sftp.js';
import type { RejectedEntry, TransferResult } from '../ssh/sftp-types.js';

export interface WireError {
  name: string;
  /** A TransferError's facts: its paths, the entries it refused, what it did before. */
  transfer?: { localPath: string; remotePath: string; rejected: RejectedEntry[]; result?: TransferResult };
  kind?: string;
  message: string;
  host?: string;
  hint?: string;
  stage?: string;
  retryable?: boolean;
}

export function toWire(e: unknown): WireError {
  if (e instanceof FleetshError) {
    const w: WireError = { name: e.name, kind: e.kind, message: e.message, host: e.host };
    if (e instanceof ConnectionError)
      Object.assign(w, { hint: e.hint, stage: e.stage, retryable: e.retryable });
    if (e instanceof TransferError)
      w.transfer = {
        localPath: e.localPath,
        remotePath: e.remotePath,
        rejected: e.rejected,
        result: e.result,
      };
    return w;
  }
  return { name: 'Error', message: e instanceof Error ? e.message : String(e) };
}

export function fromWire(w: WireError): Error {
  const host = typeof w.host === 'string' ? w.host : undefined;
  const message = String(w.message);
  let e: Error;
  if (w.name === 'ConnectionError' && host !== undefined) {
    e = new ConnectionError(w.kind as ConnectionErrorKind, host, '', {
      hint: typeof w.hint === 'string' ? w.hint : undefined,
      stage: w.stage as ConnectionStage,
      retryable: w.retryable === true,
    });
  } else if (w.name === 'TransferError' && host !== undefined && w.transfer) {
    const t = w.transfer;
    e = new TransferError(w.kind as 'failed', host, '', String(t.localPath), String(t.remotePath), {
      rejected: Array.isArray(t.rejected) ? t.rejected : [],
      result: t.result,
    });
  } else if (w.name === 'CancelledError' && host !== undefined) {
    e = new CancelledError(host, '');
  } else if (w.name === 'UsageError') {
    e = new UsageError(message, { host });
  } else if (typeof w.kind === 'string') {
    e = new FleetshError(w.kind as ErrorKind, message, { host });
  } else {
    e = new Error(message);
  }
  e.message = message;
  return e;
}
