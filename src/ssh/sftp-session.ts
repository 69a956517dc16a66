// One SFTP session whose every request ends. ssh2 calls a request back only when the server
// answers it, or when the server acknowledges the session's close; a request made after that is
// kept for ever and never called back (a timed-out upload hung on the unlink of its temporary file
// that way). Here a request settles when the server answers, when the session ends, or when the
// transfer's signal aborts, and none is sent on a session that is closing.
//
// Closing waits CLOSE_WAIT_MS for the server's acknowledgement; a server that gives none is not
// answering, so what carries the session is retired: an ssh2 connection closes once nothing else
// uses it, which ends the session and every request ssh2 still holds for it; an `ssh -s sftp`
// process is killed (sftp-stdio.ts).
import type { SFTPWrapper } from 'ssh2';
import type { Release } from './semaphore.js';

/** How long a closed session waits for the server's acknowledgement before its connection is retired. */
export const CLOSE_WAIT_MS = 2000;

export type SftpCallback<T> = (err: Error | null | undefined, value?: T) => void;

export class SftpSession {
  readonly sftp: SFTPWrapper;
  readonly #retire: (reason: string) => void;
  readonly #signal: AbortSignal;
  #release: Release | undefined;
  /** Why requests fail from now on: the session ended, or the signal aborted. */
  #ended: unknown;
  #endedFlag = false;
  readonly #waiting = new Set<(err: unknown) => void>();
  /** Requests sent whose callback ssh2 has not called yet (some may outlive their caller). */
  #outstanding = 0;
  /** The channel has closed (both sides). */
  #closed = false;
  #closedResolve!: () => void;
  readonly #closedPromise = new Promise<void>((r) => (this.#closedResolve = r));
  #drained: Array<() => void> = [];

  /** `retire` ends what carries the session, for a server that does not acknowledge its close. */
  constructor(sftp: SFTPWrapper, release: Release, retire: (reason: string) => void, signal: AbortSignal) {
    this.sftp = sftp;
    this.#release = release;
    this.#retire = retire;
    this.#signal = signal;
    sftp.on('error', this.#onError); // a protocol error ends the session: its requests fail with 'close'
    sftp.once('close', this.#onClose);
    if (signal.aborted) this.#onAbort();
    else signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** One request: `fn` is given ssh2's callback. Rejects at once on a session that ended. */
  call<T>(fn: (sftp: SFTPWrapper, cb: SftpCallback<T>) => void): Promise<T> {
    if (this.#endedFlag) return Promise.reject(this.#ended);
    return new Promise<T>((resolve, reject) => {
      const fail = (err: unknown) => {
        this.#waiting.delete(fail);
        reject(err);
      };
      this.#waiting.add(fail);
      this.#outstanding++;
      let answered = false;
      const cb: SftpCallback<T> = (err, value) => {
        if (answered) return; // ssh2's fastXfer can call back twice on some errors
        answered = true;
        if (--this.#outstanding === 0) for (const f of this.#drained.splice(0)) f();
        if (!this.#waiting.has(fail)) return; // the caller has moved on
        this.#waiting.delete(fail);
        if (err) reject(err);
        else resolve(value as T);
      };
      try {
        fn(this.sftp, cb);
      } catch (e) {
        cb(e as Error);
      }
    });
  }

  /**
   * Whether the server named this extension (`fsync@openssh.com`, `posix-rename@openssh.com`) in its
   * version message. ssh2 keeps that list unexported; its own extension calls read it the same way.
   */
  supports(extension: string): boolean {
    const list = (this.sftp as unknown as { _extensions?: Record<string, string> })._extensions;
    return list?.[extension] === '1';
  }

  /**
   * The most data one WRITE request carries whole: ssh2 splits a larger one and sends the rest only
   * once the first part is answered. From the server's limits@openssh.com, else ssh2's guess (256 KiB
   * for OpenSSH, 32 000 bytes for others); ssh2 keeps it unexported.
   */
  maxWrite(): number {
    const n = (this.sftp as unknown as { _maxWriteLen?: unknown })._maxWriteLen;
    return typeof n === 'number' && n > 0 ? n : 31_952;
  }

  /**
   * Resolves once the session has closed: the server acknowledged it, or gave no acknowledgement
   * within CLOSE_WAIT_MS and the connection was retired (the pool then gives a fresh one).
   */
  closed(): Promise<void> {
    return this.#closedPromise;
  }

  /** Resolves once ssh2 has called back every request sent (at the latest when the connection closes). */
  settled(): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Ends the session; requests still waiting fail. */
  close(): void {
    this.#end(new Error('the SFTP session was closed'));
  }

  /**
   * Lets go of a session that is sound, for another transfer: not ended, not closed, every request
   * answered. Returns its channel slot's release (now the caller's), or undefined if it is not
   * sound; then it is closed as by close().
   */
  detach(): Release | undefined {
    if (this.#endedFlag || this.#closed || this.#outstanding > 0 || this.#signal.aborted) {
      this.close();
      return undefined;
    }
    this.#endedFlag = true;
    this.#ended = new Error('the SFTP session was handed to another transfer');
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.sftp.removeListener('error', this.#onError);
    this.sftp.removeListener('close', this.#onClose);
    const release = this.#release;
    this.#release = undefined;
    this.#closedResolve();
    return release;
  }

  #onError = () => {};

  #onClose = () => {
    this.#closed = true;
    this.#end(new Error('the SFTP session was closed'));
    this.#releaseSlot();
  };

  #onAbort = () => this.#end(this.#signal.reason);

  #end(reason: unknown): void {
    if (this.#endedFlag) return;
    this.#endedFlag = true;
    this.#ended = reason;
    this.#signal.removeEventListener('abort', this.#onAbort);
    for (const fail of [...this.#waiting]) fail(reason);
    if (this.#closed) return;
    this.sftp.end();
    const timer = setTimeout(() => {
      this.#retire('the server did not acknowledge the close of an SFTP session');
      this.#releaseSlot();
    }, CLOSE_WAIT_MS);
    timer.unref();
    this.sftp.once('close', () => clearTimeout(timer));
  }

  #releaseSlot(): void {
    this.#release?.();
    this.#release = undefined;
    this.#closedResolve();
  }
}
