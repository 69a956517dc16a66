// A persistent shell on a kept connection: one exec channel runs a small POSIX driver (dash, sh)
// that runs the connection's commands one at a time, so that a command costs a write on the
// channel instead of a channel open, an exec request and a close (about two round trips). Measured
// here (bench/session-executor.ts, 20 hosts × 50 `/bin/true` on loopback): 1.2-1.8× less of
// fleetsh's CPU, the same CPU on the hosts (sshd's session set-up there is about what setsid and a
// fresh login shell cost here); docs/benchmarks.md.
//
// No library does this for ssh2 (Mitogen and ClusterShell keep a Python interpreter on the host);
// a shell is all a host is sure to have, so the driver is shell and the framing is built for it:
//
// - Requests (ours, trusted) go on the driver's stdin: a line `TOKEN LINES JOB` and then the command
//   text in LINES lines (a line count is the length prefix a shell's `read` can honour exactly).
// - Each command runs as `FLEETSH_JOB=JOB setsid $SHELL -c TEXT </dev/null`, in the foreground (a
//   background job would start with SIGINT ignored): the login shell, as an exec request runs it,
//   leading its own session and process group, with the job marker the kill helper of
//   ssh-executor.ts looks for. Its stdout and stderr are the channel's own (no relay process: a
//   command costs one fork and the shell's start). TEXT is what an exec request would run, between
//   a line that records the shell's process id and one that records its status in the driver's
//   private folder (mktemp -d, mode 0700).
// - Control messages carry TOKEN, 128 random bits made per command and known only to this process
//   and the driver (the command never sees it: it is not exported, and the command's shell is
//   exec'd). Before the command the driver writes `TOKEN S` on stdout and on stderr; after it
//   `TOKEN E<status> <recorded status>` on stdout and `TOKEN E` on stderr. Bytes outside a start
//   and an end are not the command's and are dropped. A command cannot forge a frame: it would have
//   to print a value it has never seen.
// - The exit status: a shell reports 128+N both for "killed by signal N" and for `exit 128+N`. A
//   status the command's shell recorded on reaching its end is an exit code; 128+N unrecorded is
//   signal N, as sshd's exit-signal would have said. A command that exits 129-192 before its end
//   (`exit 130`, or `exec` of a program that does) is read as killed by that signal.
// - The end of a command is when its shell has exited and no process of its process group still
//   holds the channel's stdout or stderr (looked up in /proc only when the group outlives its
//   shell): a background child that keeps the output open keeps the command running, as it keeps an
//   exec channel open; one that does not (`cmd >/dev/null 2>&1 &`) does not. A child that left the
//   group (setsid, a daemon) and kept the output is not waited for; what it prints later is dropped
//   between commands, or, printed during a later command, is taken for that command's output.
// - Killing is the exec path's helper (the job marker on a second channel): the driver is not
//   signalled, and the session serves the next command. A command still not ended 1 s after its
//   SIGKILL marks the session wedged: it is closed (its driver killed) and the next command starts
//   another.
//
// The driver needs a POSIX /bin/sh, a POSIX login shell (it checks that `$SHELL -c` knows `$$` and
// `$((…))`: not fish or csh), `setsid`, `mktemp` and /proc (Linux). Where it does not start (a login
// shell that is not POSIX or cannot run it, a ForceCommand, a restricted shell, no setsid), the
// handshake fails within HANDSHAKE_MS and the connection runs its commands over exec requests.
import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { quote } from '../command/quote.js';
import { ConnectionError } from '../process/errors.js';
import { killRequestOf, type ExecOutcome, type ExecRequest } from '../process/executor.js';
import type { Release } from './semaphore.js';
import type { SshConnection } from './connection.js';
import { Demux, outcomeOf } from './session-frames.js';

/** How long the driver may take to say it is ready; past it, the connection uses exec requests. */
export const HANDSHAKE_MS = 5_000;
/** How long after SIGKILL a command's end frame may take before the session is taken for wedged. */
const KILLED_COMMAND_WAIT_MS = 1000;
/** The driver's first line: its protocol version and its process id. */
const HELLO = /^FLEETSH-SESSION 1 (\d+)\n/;

/**
 * The driver, run by `/bin/sh`. `held` says whether a process of group $1 holds the driver's
 * stdout or stderr (the group outlived its shell). Every variable is set before use. The command
 * shell's process id and recorded status go through two files made in a private folder (mktemp -d
 * in $TMPDIR or /tmp, mode 0700) that is removed at once, once the driver holds them open: a
 * driver killed with SIGKILL leaves nothing behind. They are reached by their paths under the
 * driver's /proc/PID/fd (its fd 4 and 6, which the command's shell closes first: a redirection
 * of the setsid line would make dash move them aside while the command runs), so the command has
 * no descriptor of them and its own fd 4 or 6 (`exec 6>log`) cannot take the status. The driver
 * empties them before each command and reads them after it.
 */
const DRIVER = `command -v setsid >/dev/null 2>&1 || exit 98
[ -d /proc/$$/fd ] || exit 99
d=$(mktemp -d "\${TMPDIR:-/tmp}/fleetsh-session.XXXXXXXXXX") || exit 97
case $d in *[!A-Za-z0-9._/-]*) exit 97;; esac
exec 4>"$d/p" 6>"$d/s" || exit 97
rm -rf "$d"
trap 'exit 1' HUP TERM
x=\${SHELL:-/bin/sh}
exec 3>&2 2>/dev/null
[ "$("$x" -c 'a=$$; echo "$((a - a + 2))"' </dev/null)" = 2 ] || exit 96
held() {
  g=$1
  for f in /proc/[0-9]*/stat; do
    IFS= read -r l < "$f" || continue
    set -- \${l##*) }
    [ "$3" = "$g" ] || continue
    for h in \${f%/stat}/fd/*; do
      if [ "$h" -ef /proc/$$/fd/1 ] || [ "$h" -ef /proc/$$/fd/3 ]; then return 0; fi
    done
  done 2>/dev/null
  return 1
}
printf 'FLEETSH-SESSION 1 %s\\n' "$$"
while IFS=' ' read -r t n j; do
  c=
  i=0
  while [ "$i" -lt "$n" ]; do
    IFS= read -r l || exit 0
    c="$c$l
"
    i=$((i + 1))
  done
  : >/proc/$$/fd/4
  : >/proc/$$/fd/6
  printf '%sS\\n' "$t"
  printf '%sS\\n' "$t" >&3
  FLEETSH_JOB=$j setsid "$x" -c "exec 4>&- 6>&-
echo \\$\\$ >/proc/$$/fd/4
$c
s=\\$?
echo \\$s >/proc/$$/fd/6
exit \\$s" </dev/null 2>&3 3>&-
  s=$?
  p=
  r=
  IFS= read -r p </proc/$$/fd/4
  IFS= read -r r </proc/$$/fd/6
  case $p in ''|*[!0-9]*) ;; *) while kill -0 -$p 2>/dev/null && held "$p"; do sleep 0.05; done;; esac
  printf '%sE%s %s\\n' "$t" "$s" "$r"
  printf '%sE\\n' "$t" >&3
done`;

/** The exec request that starts the driver (sh's `-c`, its arguments quoted for the login shell). */
export const DRIVER_COMMAND = `exec /bin/sh -c ${quote(DRIVER)} fleetsh-session`;

/** What to do to a command's processes on the host: the exec path's kill helper. */
export type KillJob = (signal: string) => void;

export class ShellSession {
  readonly conn: SshConnection;
  /** The driver's process id on the host. */
  readonly pid: number;
  readonly #channel: ClientChannel;
  readonly #release: Release;
  readonly #out: Demux;
  readonly #err: Demux;
  #busy = false;
  #closed = false;
  /** The server refused a channel: this session gives its own back when its command ends. */
  #crowded = false;
  #current: { end(): void; closed(): void } | undefined;
  #onData: ((stream: 'stdout' | 'stderr', chunk: Buffer) => void) | undefined;

  private constructor(conn: SshConnection, channel: ClientChannel, release: Release, pid: number) {
    this.conn = conn;
    this.pid = pid;
    this.#channel = channel;
    this.#release = release;
    const ended = () => {
      if (this.#out.done && this.#err.done) this.#current?.end();
    };
    this.#out = new Demux((d) => this.#onData?.('stdout', d), ended);
    this.#err = new Demux((d) => this.#onData?.('stderr', d), ended);
    channel.removeAllListeners('data');
    channel.stderr.removeAllListeners('data');
    channel.on('data', (d: Buffer) => this.#out.push(d));
    channel.stderr.on('data', (d: Buffer) => this.#err.push(d));
    // A server at its MaxSessions: the channel this session holds is given back (now if idle, else
    // after its command), so that the commands queued for a channel cannot wait on it.
    const off = conn.onRefusal(() => {
      this.#crowded = true;
      if (!this.#busy) this.close();
    });
    channel.on('close', () => {
      off();
      this.#closed = true;
      this.#busy = true;
      this.#release();
      this.#current?.closed();
    });
  }

  /** Idle and open: a command may take it (claim()). */
  get idle(): boolean {
    return !this.#busy && !this.#closed;
  }
  get closed(): boolean {
    return this.#closed;
  }

  /** Takes the idle session for one command (false if it is not idle). */
  claim(): boolean {
    if (!this.idle) return false;
    this.#busy = true;
    return true;
  }

  /**
   * Starts the driver on a channel of its own and waits, at most HANDSHAKE_MS, for its first line.
   * Resolves undefined when it does not start, with why (`lasting`: the host cannot run it, as
   * opposed to a channel that could not open now, or silence); what it opened is closed.
   */
  static async start(
    conn: SshConnection,
    why: (reason: string, lasting: boolean) => void,
  ): Promise<ShellSession | undefined> {
    let opened: { channel: ClientChannel; release: Release };
    try {
      opened = await conn.exec(DRIVER_COMMAND, { signal: AbortSignal.timeout(HANDSHAKE_MS) });
    } catch (e) {
      why(`no channel for it: ${(e as Error).message}`, false);
      return undefined;
    }
    const { channel, release } = opened;
    let released = false;
    const releaseOnce = () => {
      if (released) return;
      released = true;
      release();
    };
    return new Promise((resolve) => {
      let seen = Buffer.alloc(0);
      let status = '';
      let done = false;
      const fail = (reason: string, lasting = true) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        channel.removeAllListeners('data');
        channel.on('data', () => {});
        try {
          channel.close();
        } catch {
          // already closing
        }
        releaseOnce();
        why(reason, lasting);
        resolve(undefined);
      };
      // Nobody waits for a start (commands use exec requests meanwhile): it keeps no script alive.
      // Silence may be a loaded host's (not lasting); the connection gives up after a second one.
      const timer = setTimeout(
        () => fail(`it did not answer within ${HANDSHAKE_MS} ms`, false),
        HANDSHAKE_MS,
      );
      timer.unref();
      channel.stderr.on('data', () => {});
      channel.on('error', () => {});
      channel.on('exit', (code: number | null, signal?: string) => {
        status = code !== null && code !== undefined ? `exit status ${code}` : `signal ${signal}`;
      });
      channel.on('close', () => {
        releaseOnce();
        fail(`it ended (${status || 'no status'}) before it was ready`, !conn.closedError);
      });
      channel.on('data', (d: Buffer) => {
        if (done) return;
        seen = Buffer.concat([seen, d]);
        const text = seen.toString('latin1');
        const m = HELLO.exec(text);
        if (m && Number(m[1]) > 1) {
          done = true;
          clearTimeout(timer);
          channel.removeAllListeners('close');
          resolve(new ShellSession(conn, channel, releaseOnce, Number(m[1])));
        } else if (seen.length > 64 || (text.includes('\n') && !m)) {
          fail("it printed something other than the driver's greeting");
        }
      });
    });
  }

  /**
   * Runs one command on the claimed session: `text` is what an exec request would run
   * (ssh-executor's wrapCommand), `job` its marker. Resolves with how it ended, as the exec path
   * would; `sent` is called once the request is on its way (from then on it may have run).
   */
  run(req: ExecRequest, text: string, job: string, kill: KillJob, sent: () => void): Promise<ExecOutcome> {
    const token = `@fleetsh:${randomBytes(16).toString('hex')}:`;
    const lines = text.split('\n');
    return new Promise<ExecOutcome>((resolve, reject) => {
      let killSignal: string | undefined;
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const settle = (outcome: ExecOutcome | Error, usable: boolean) => {
        if (settled) return;
        settled = true;
        req.signal.removeEventListener('abort', onAbort);
        for (const t of timers) clearTimeout(t);
        this.#current = undefined;
        this.#onData = undefined;
        if (usable && !this.#closed && !this.#crowded) this.#busy = false;
        else this.close();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const onAbort = () => {
        const { signal, graceMs } = killRequestOf(req.signal);
        killSignal = signal;
        kill(signal);
        if (signal !== 'SIGKILL') {
          timers.push(
            setTimeout(() => {
              killSignal = 'SIGKILL';
              kill('SIGKILL');
            }, graceMs),
          );
        }
        // Still running 1 s after SIGKILL: the session is not trusted with another command.
        // As on an exec channel, the server may have stopped answering: the connection is retired too.
        timers.push(
          setTimeout(() => {
            this.conn.retire("a killed command's shell session stayed busy");
            settle({ exitCode: null, signal: killSignal! }, false);
          }, graceMs + KILLED_COMMAND_WAIT_MS),
        );
      };
      if (this.#closed) {
        return reject(
          this.conn.closedError ??
            new ConnectionError('closed', this.conn.label, 'the shell session had ended'),
        );
      }
      this.#onData = (stream, chunk) => req.onData(stream, chunk);
      this.#current = {
        end: () => {
          const outcome = outcomeOf(this.#out.trailer);
          if (outcome) return settle(outcome, true);
          settle(
            new ConnectionError(
              'protocol',
              this.conn.label,
              `the shell session sent a malformed exit status: ${JSON.stringify(this.#out.trailer)}`,
            ),
            false,
          );
        },
        closed: () => {
          if (killSignal) return settle({ exitCode: null, signal: killSignal }, false);
          const lost = this.conn.closedError;
          settle(
            new ConnectionError(
              'closed',
              this.conn.label,
              lost
                ? `the connection was lost while the command was running (${lost.message.replace(/^[^:]*: (connection lost: )?/, '').split('\n')[0]}); it may or may not have completed on the host`
                : 'the shell session ended while the command was running; it may or may not have completed on the host',
              { cause: lost },
            ),
            false,
          );
        },
      };
      this.#out.expect(token);
      this.#err.expect(token);
      this.#channel.write(`${token} ${lines.length} ${job}\n${text}\n`);
      sent();
      if (req.signal.aborted) onAbort();
      else req.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Ends the session: its channel closes, and the driver with it (sshd closes its input). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#busy = true;
    try {
      this.#channel.close();
    } catch {
      // already closing
    }
    this.#release();
  }
}

/** A connection's session, and what it learned: whether its host can run one. */
interface Slot {
  commands: number;
  /** Starts that failed without saying the host cannot run a session (silence, no channel). */
  failures: number;
  /** The server refused a channel (it is at its MaxSessions): no session is started any more. */
  crowded: boolean;
  session?: ShellSession;
  starting?: Promise<ShellSession | undefined>;
  /** Why the host cannot run a session: its commands use exec requests. */
  unsupported?: string;
}

const slots = new WeakMap<SshConnection, Slot>();

/**
 * A claimed session for the connection's next command, or undefined to use an exec request. The
 * connection's first command starts none (a one-command run pays for no driver); from the second
 * on, a session is started beside the command, which goes over an exec request, and the commands
 * after it take the session when it is ready and idle. Never waits: a host that cannot run one, a
 * session busy with another command, one still starting, or a connection whose channel cap leaves
 * no room for one held open (below 3, or every channel in use) all mean an exec request.
 */
export function claimSession(conn: SshConnection): ShellSession | undefined {
  let slot = slots.get(conn);
  if (!slot) {
    const s: Slot = { commands: 0, failures: 0, crowded: false };
    slots.set(conn, (slot = s));
    // A server that refuses channels has none to spare for a session held open.
    conn.onRefusal(() => (s.crowded = true));
  }
  if (slot.unsupported !== undefined || slot.commands++ === 0) return undefined;
  if (slot.session?.closed) slot.session = undefined;
  if (slot.session) return slot.session.claim() ? slot.session : undefined;
  if (
    slot.starting ||
    slot.crowded ||
    conn.channels.limit < 3 ||
    conn.channels.active >= conn.channels.limit - 1
  )
    return undefined;
  const s = slot;
  s.starting = ShellSession.start(conn, (reason, lasting) => {
    if (lasting || ++s.failures >= 2) s.unsupported = reason;
  }).then((session) => {
    s.starting = undefined;
    s.session = session;
    return session;
  });
  return undefined;
}

/**
 * Resolves once the connection's session is ready (true), or failed to start, or none is starting;
 * keeps the process alive meanwhile (a start alone does not).
 */
export async function sessionStarted(conn: SshConnection): Promise<boolean> {
  const release = conn.hold();
  try {
    return (await slots.get(conn)?.starting) !== undefined || sessionOf(conn) !== undefined;
  } finally {
    release();
  }
}

/** Why the connection runs its commands over exec requests, once a session failed to start there. */
export function sessionUnsupported(conn: SshConnection): string | undefined {
  return slots.get(conn)?.unsupported;
}

/** The connection's session, if one is running (for tests and diagnostics). */
export function sessionOf(conn: SshConnection): ShellSession | undefined {
  const s = slots.get(conn)?.session;
  return s && !s.closed ? s : undefined;
}
