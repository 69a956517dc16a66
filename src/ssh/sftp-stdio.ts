// An SFTP session over a process's pipes: `ssh -s host sftp` (through the OpenSSH transport's
// ControlMaster) carries the SFTP protocol on its stdin and stdout, and ssh2's SFTP client runs over
// them, so uploads and downloads take the one transfer code of sftp.ts, sftp-put.ts and
// sftp-files.ts (atomic replace, fsync, cleanup, the name-safety rules of downloads) on both
// transports.
//
// ssh2's SFTP class is written as a channel stand-in ("Emulates enough of Channel", SFTP.js): it
// takes the server's bytes through push() and sends through its client's protocol object
// (channelData, channelClose), within its channel's outgoing window, which its client refills on
// WINDOW_ADJUST (`_waitWindow`, then `_chunkcb`). Those few parts are given here: the window is the
// pipe's, each write given back once the pipe took it, so at most SFTP_WINDOW bytes wait in memory.
// Chosen over the `sftp` binary (a batch language with errors as text: no fsync, no posix-rename
// choice, no per-request timeouts) and over a second SFTP client (one protocol, two codes to keep
// right). The cost is a dependency on these names inside ssh2 1.x, pinned by the tests that run a
// transfer through here against a real sshd.
import type { ChildProcess } from 'node:child_process';
import type { SFTPWrapper } from 'ssh2';
import { abortable } from '../process/abort.js';
import { printable } from '../process/printable.js';
import type { Release } from './semaphore.js';
import type { OpenedSftp, SftpSource } from './sftp.js';
import { loadSsh2 } from './ssh2-load.js';

/** Bytes sent and not yet taken by the pipe, at most: 64 of sftp-put.ts's 32 KiB writes. */
const SFTP_WINDOW = 2 * 1024 * 1024;
/** The largest piece ssh2 hands to channelData at once. */
const PACKET_SIZE = 256 * 1024;
/** What is kept of the process's stderr, for messages. */
const STDERR_TAIL = 2048;

/** A process that speaks SFTP on its stdio (`ssh -s host sftp`), and what it holds on the host's connection. */
export interface SftpProcess {
  child: ChildProcess;
  /** Given back once the process has ended (a channel slot on the transport's connection). */
  release?: Release;
}

/**
 * The OpenSSH transport's sessions: `start` runs one `ssh -s ... sftp` (spawned with three pipes);
 * the session ends with the process.
 */
export function processSftp(host: string, start: (signal: AbortSignal) => Promise<SftpProcess>): SftpSource {
  return {
    host,
    open: async (signal) => {
      const proc = await start(signal);
      return sftpOverProcess(proc, signal);
    },
  };
}

interface ChannelHalf {
  id: number;
  window: number;
  packetSize: number;
  state: 'open' | 'eof' | 'closing' | 'closed';
}

/** The parts of ssh2's SFTP object that the stand-in drives (its window refill), unexported by ssh2. */
interface SftpInternals {
  _waitWindow: boolean;
  _chunkcb: (() => void) | undefined;
  _init(): void;
  push(data: Buffer | null): void;
  readable: boolean;
  incoming: ChannelHalf;
  outgoing: ChannelHalf;
}

/** ssh2's SFTP client over the process's stdin and stdout; resolves once the server answered INIT. */
export async function sftpOverProcess(proc: SftpProcess, signal: AbortSignal): Promise<OpenedSftp> {
  const { child } = proc;
  const { stdin, stdout, stderr } = child;
  if (!stdin || !stdout || !stderr) throw new Error('the sftp process was started without pipes');
  let released = false;
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const release = () => {
    if (released) return;
    released = true;
    kill();
    proc.release?.();
  };
  let errText = '';
  stderr.on('data', (d: Buffer) => (errText = (errText + d.toString('utf8')).slice(-STDERR_TAIL)));
  stdin.on('error', () => {}); // EPIPE once the process is gone: its close says so

  const { SFTP } = await loadSsh2();
  let sftp!: SftpInternals & SFTPWrapper;
  const protocol = {
    // Not OpenSSH's identification: ssh2 then assumes 34 000-byte packets, raised by the server's
    // limits@openssh.com (OpenSSH's sftp-server offers it) rather than assumed for any server.
    _remoteIdentRaw: 'SSH-2.0-unknown',
    channelData: (_id: number, data: Buffer) => {
      stdin.write(data, () => {
        sftp.outgoing.window += data.length;
        if (sftp._waitWindow) {
          sftp._waitWindow = false;
          sftp._chunkcb?.();
        }
      });
    },
    channelClose: () => stdin.end(),
  };
  const half = (window: number): ChannelHalf => ({ id: 0, window, packetSize: PACKET_SIZE, state: 'open' });
  sftp = new SFTP(
    { _protocol: protocol },
    { type: 'sftp', incoming: half(Infinity), outgoing: half(SFTP_WINDOW) },
  ) as unknown as SftpInternals & SFTPWrapper;

  // ssh2's parser throws on some malformed input (a length with its top bit set reads as negative):
  // the host's bytes must not throw out of this listener, so the session ends as on a protocol error.
  stdout.on('data', (d: Buffer) => {
    try {
      sftp.push(d);
    } catch (e) {
      stdout.removeAllListeners('data');
      stdout.resume();
      sftp.emit(
        'error',
        new Error(
          `the SFTP subsystem sent a malformed packet (${printable(String((e as Error)?.message ?? e))})`,
        ),
      );
      kill();
    }
  });
  stdout.on('end', () => sftp.push(null));
  child.once('close', () => {
    sftp.outgoing.state = 'closed';
    sftp.incoming.state = 'closed';
    if (sftp.readable) sftp.push(null);
    sftp.emit('close');
  });

  const ready = new Promise<void>((resolve, reject) => {
    const onClose = () =>
      reject(
        new Error(
          `the SFTP subsystem ended before it answered (${exitOf(child)})${errText.trim() ? `: ${printable(errText.trim())}` : ''}`,
        ),
      );
    sftp.once('ready', () => {
      child.removeListener('close', onClose);
      resolve();
    });
    sftp.once('error', (e: Error) => reject(e));
    child.once('close', onClose);
    child.once('error', reject);
  });
  ready.catch(() => {}); // when the signal wins, the close that follows the kill rejects it unheard
  sftp._init();
  try {
    await abortable(ready, signal);
  } catch (e) {
    release();
    throw e;
  }
  return { sftp, release, retire: kill, done: () => {} };
}

function exitOf(child: ChildProcess): string {
  if (child.signalCode) return `killed by ${child.signalCode}`;
  return `exit ${child.exitCode ?? 'unknown'}`;
}
