// How ssh2's client starts an SFTP session, in two round trips fewer (ssh2 has no option for either;
// its internals are pinned by package-lock, and a client or session without them is left as it was).
// ssh2 waits, in turn, for the channel to open, for the server's answer to the subsystem request,
// for the VERSION answering its INIT and, when the server offers limits@openssh.com, for the
// limits: four round trips before the first request. Here:
//
// - INIT goes right behind the subsystem request, as OpenSSH's own client sends the session's data
//   without waiting for that answer: a server handles a channel's messages in order, so the
//   subsystem has started when the INIT arrives (a refused subsystem fails the session as before).
// - The session is ready on VERSION: the limits request is sent and its answer applied when it
//   comes, as ssh2 does, but requests do not wait for it. Until then ssh2's defaults hold (a
//   WRITE of at most 256 KiB to OpenSSH, 32 000 bytes to others); the transfers write 32 KiB at
//   most, below what any OpenSSH states.
//
// On a loaded 2-core machine (load 30-50) each round trip to a local sshd cost 100-250 ms, and a
// cold copy's host took 1.5-3.3 s against 0.9-1.3 s for a command (docs/benchmarks.md).
import type { Ssh2 } from './ssh2-load.js';

type Client = InstanceType<Ssh2['Client']>;
type Subsystem = (chan: number, name: string, wantReply?: boolean) => unknown;

/** The parts of ssh2's SFTP object (a channel until VERSION) that are used here. */
interface SftpChannel {
  outgoing?: { id?: unknown };
  _version?: unknown;
  _callbacks?: unknown;
  _requests?: unknown;
  _init?: unknown;
  push?: unknown;
  emit(event: string): boolean;
}

interface ClientInternals {
  _protocol?: { subsystem?: Subsystem };
  _chanMgr?: { _channels?: Record<string, unknown> };
}

/** Applies the change to a client whose connect() was just called. */
export function startSftpSooner(client: Client): void {
  const { _protocol: proto, _chanMgr: channels } = client as unknown as ClientInternals;
  const subsystem = proto?.subsystem;
  if (!proto || typeof subsystem !== 'function' || typeof channels?._channels !== 'object') return;
  proto.subsystem = function (this: unknown, chan, name, wantReply) {
    const sent = subsystem.call(this, chan, name, wantReply);
    if (name === 'sftp' && wantReply !== false) {
      const sftp = Object.values(channels._channels ?? {}).find(
        (c): c is SftpChannel => isSftp(c) && c.outgoing?.id === chan,
      );
      if (sftp) startEarly(sftp);
    }
    return sent;
  };
}

function isSftp(c: unknown): c is SftpChannel {
  const s = c as SftpChannel | undefined;
  return (
    typeof s === 'object' &&
    s !== null &&
    s._version === -1 && // an SFTP object (ssh2's type for its channel is 'session') before VERSION
    typeof s._requests === 'object' &&
    typeof s._init === 'function' &&
    typeof s.push === 'function' &&
    Array.isArray(s._callbacks) &&
    s._callbacks.length > 0
  );
}

/**
 * Called right after the subsystem request was sent: ssh2 queued its answer's callback last. INIT
 * goes now (ssh2's own later call does nothing), and 'ready' is emitted once both the subsystem's
 * success and the VERSION have come, whichever comes last (ssh2 listens for it only after the
 * success). ssh2 may emit 'ready' again when the limits come: nothing listens by then.
 */
function startEarly(sftp: SftpChannel): void {
  const callbacks = sftp._callbacks as Array<(failed: unknown) => void>;
  const index = callbacks.length - 1;
  const ssh2Answered = callbacks[index]!;
  const ssh2Push = sftp.push as (data: Buffer | null) => unknown;
  const ownPush = Object.hasOwn(sftp, 'push');
  let succeeded = false;
  let versioned = false;
  let emitted = false;
  const ready = () => {
    if (succeeded && versioned && !emitted) {
      emitted = true;
      sftp.emit('ready');
    }
  };
  callbacks[index] = (failed) => {
    ssh2Answered(failed);
    if (failed) return;
    succeeded = true;
    ready();
  };
  sftp.push = function (this: SftpChannel, data: Buffer | null) {
    const handled = ssh2Push.call(this, data);
    if (this._version !== -1) {
      // The VERSION was in this data: back to ssh2's own push for every later packet.
      if (ownPush) this.push = ssh2Push;
      else delete (this as { push?: unknown }).push;
      versioned = true;
      ready();
    }
    return handled;
  };
  (sftp._init as () => void).call(sftp);
}
