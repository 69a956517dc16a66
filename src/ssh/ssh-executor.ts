// Runs one command on an SSH target: a pooled connection, one exec channel, the exit status, and a
// kill that really ends the remote process.
//
// Killing, as measured against OpenSSH 9.2: a `signal` channel request makes sshd killpg() the
// command's session, but only for non-root logins (sshd handles root sessions without privilege
// separation and refuses to signal them), and ssh2 drops the request once stdin was closed.
// Closing the channel leaves the command running. So every command exports a random job marker
// (FLEETSH_JOB) and a kill sends the signal request (on the raw protocol), then, if the command
// has not ended shortly after, a helper command on a second channel that signals every process
// group and process carrying the marker in its environment (Linux /proc). SIGTERM first, SIGKILL
// after the grace period, then the channel is closed. A command under sudo gets its helper through
// sudo too: its processes belong to another user, whom the login user may not signal.
//
// A command may ask for a pseudo-terminal (requested on the channel before the command) and for
// sudo (src/ssh/sudo.ts wraps its command line, input and output).
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { quote } from '../command/quote.js';
import { abortable } from '../process/abort.js';
import { abbreviate, CancelledError, ConnectionError, FleetshError, UsageError } from '../process/errors.js';
import { killRequestOf, type ExecOutcome, type ExecRequest, type Executor } from '../process/executor.js';
import type { SshConnection } from './connection.js';
import type { SshPool } from './pool.js';
import { claimSession } from './shell-session.js';
import { SudoDialog, type SudoDialogOptions } from './sudo.js';
import { ptyOf, type Pty } from '../process/exec-options.js';
import type { ResolvedTarget } from './types.js';
import { EOT, feedCommandInput } from './command-input.js';

export const JOB_VAR = 'FLEETSH_JOB';
/** Job markers: random per process, then a counter (a random draw per command costs more than it buys). */
const JOB_PREFIX = randomBytes(6).toString('hex');
let jobCounter = 0;
export const nextJobId = (): string => `${JOB_PREFIX}${(jobCounter++).toString(36)}`;
/** How long after the signal request the /proc helper is sent if the command is still running. */
const HELPER_DELAY_MS = 200;
/** How long the /proc helper may take, from asking for its channel to its end. */
export const HELPER_TIMEOUT_MS = 10_000;
/**
 * How long after SIGKILL a killed command's channel may stay open before the call ends without it.
 * sshd closes it within milliseconds of the process's end (a few hundred under a loaded CPU).
 */
const KILLED_CHANNEL_WAIT_MS = 1000;
/** A command the server started after its caller gave up is swept for again this long after the first kill. */
export const LATE_SWEEP_MS = 1000;

export interface SshContext {
  pool: SshPool;
  resolve(): Promise<ResolvedTarget>;
}

export class SshExecutor implements Executor {
  readonly host: string;
  readonly #ctx: SshContext;

  constructor(host: string, ctx: SshContext) {
    this.host = host;
    this.#ctx = ctx;
  }

  target(): Promise<ResolvedTarget> {
    return this.#ctx.resolve();
  }

  async ready(signal: AbortSignal): Promise<void> {
    await this.connection(signal);
  }

  /** The pooled connection for this target, connected. */
  async connection(signal?: AbortSignal): Promise<SshConnection> {
    const target = await this.#ctx.resolve();
    const conn = this.#ctx.pool.connection(target);
    await abortable(conn.connect(), signal);
    return conn;
  }

  async exec(request: ExecRequest): Promise<ExecOutcome> {
    if (request.command.includes('\0')) {
      throw new UsageError(
        `${this.host}: the command contains a NUL byte, which no shell can run: ${abbreviate(request.command)}`,
        {
          host: this.host,
        },
      );
    }
    const target = await this.#ctx.resolve();
    // RequestTTY yes or force: a terminal for a command that did not say (`ssh -t`); from here on,
    // `pty` is the terminal to ask for, or undefined.
    const pty = request.pty === undefined && target.requestTty ? ptyOf(true) : request.pty || undefined;
    const req: ExecRequest & { pty?: Pty } =
      request.pty === pty ? (request as ExecRequest & { pty?: Pty }) : { ...request, pty };
    for (let attempt = 1; ; attempt++) {
      const conn = this.#ctx.pool.connection(target);
      const hold = conn.hold();
      let opened = false;
      try {
        await abortable(conn.connect(), req.signal);
        const sudoOpts = req.sudo ? sudoOptions(this.host, req, target) : undefined;
        const job: Job = { id: nextJobId(), pool: this.#ctx.pool, conn, sudo: sudoOpts, pty: req.pty };
        const session = sessionFits(req, target, this.#ctx.pool) ? claimSession(conn) : undefined;
        if (session) {
          return await session.run(
            req,
            wrapCommand(req, job.id),
            job.id,
            (signal) => killJob(job, signal),
            () => (opened = true),
          );
        }
        const sudo = sudoOpts ? new SudoDialog(sudoOpts) : undefined;
        const command = sudo
          ? sudo.command(`export ${JOB_VAR}=${job.id}`, wrapCommand(req, job.id))
          : wrapCommand(req, job.id);
        let run: ReturnType<typeof watchChannel> | undefined;
        const { channel, release } = await conn.exec(command, {
          signal: req.signal,
          pty: req.pty,
          attach: (ch) => (run = watchChannel(ch)),
          // The server started the command after we gave up on it: end it.
          abandon: (ch) => {
            sendSignal(ch, 'SIGKILL');
            ch.close();
            killJob(job, 'SIGKILL');
            // Once more a moment later: the first sweep may run before the command forked anything.
            setTimeout(() => killJob(job, 'SIGKILL'), LATE_SWEEP_MS).unref();
          },
        });
        opened = true;
        try {
          const outcome = await runChannel(channel, run!, sudo?.wire(req) ?? req, job, sudo);
          return sudo ? sudo.outcome(outcome) : outcome;
        } finally {
          release();
        }
      } catch (e) {
        if (req.signal.aborted && !(e instanceof FleetshError)) {
          throw new CancelledError(this.host, req.command, undefined, 'killed before it started');
        }
        // A pooled connection that died while idle: the command never started, so it is safe to
        // run it on a fresh connection, once. A command that started is never run again.
        if (
          !opened &&
          attempt === 1 &&
          e instanceof ConnectionError &&
          e.kind === 'closed' &&
          !req.signal.aborted
        ) {
          continue;
        }
        throw e;
      } finally {
        hold();
      }
    }
  }
}

/**
 * Whether a request may run on the connection's persistent shell (shell-session.ts): the target's
 * `persistentShell`, else the pool's; not with a terminal, sudo or input, which keep their exec
 * request (a terminal and sudo's dialog are the channel's; input is the driver's own stdin).
 */
function sessionFits(req: ExecRequest, target: ResolvedTarget, pool: SshPool): boolean {
  return (
    (target.persistentShell ?? pool.persistentShell) &&
    req.pty === undefined &&
    req.sudo === undefined &&
    req.stdin === undefined
  );
}

/** The sudo of a request: its password, else the target's sudoPassword, else its login password. */
export function sudoOptions(host: string, req: ExecRequest, target: ResolvedTarget): SudoDialogOptions {
  const password = req.sudo!.password ?? target.sudoPassword ?? target.password;
  if (password !== undefined && /[\r\n\0]/.test(password)) {
    throw new UsageError(`${host}: the sudo password contains a line break or NUL, which sudo cannot read`, {
      host,
    });
  }
  return { password, user: req.sudo!.user, pty: req.pty !== undefined };
}

/** `export VAR=…; export FLEETSH_JOB=…; cd DIR || exit; COMMAND` (env names are validated upstream). */
export function wrapCommand(req: Pick<ExecRequest, 'command' | 'env' | 'cwd'>, job: string): string {
  return `${commandSetup(req, job)}\n${req.command}`;
}

/**
 * The line before a command: its environment, job marker and directory. The marker comes after
 * the environment: an env of FLEETSH_JOB (an inventory's vars are untrusted) would otherwise hide
 * the command from the kill helper, and a timeout would leave it running.
 */
export function commandSetup(req: Pick<ExecRequest, 'env' | 'cwd'>, job: string): string {
  let prefix = '';
  for (const [name, value] of Object.entries(req.env ?? {})) prefix += `export ${name}=${quote(value)}; `;
  prefix += `export ${JOB_VAR}=${job}`;
  if (req.cwd !== undefined) prefix += `; cd ${quote(req.cwd)} || exit`;
  return prefix;
}

/**
 * A shell script that signals every process whose environment has the job marker, the command's
 * login shell (the child of sshd whose command line carries the marker), and their process groups.
 * The group reaches the command's own shell, whose environment has no marker (the marker is
 * exported inside it): a kill that found only a first child (`touch` in `touch x; sleep 30`) once
 * left the shell to start the next one. The command line reaches that shell even before it has
 * started anything (`bash -c 'export FLEETSH_JOB=...; ...'`): a sweep that came first found
 * nothing, and a background job the shell started after the last sweep outlived the kill (a
 * fresh-clone run, on a loaded machine). Only the SSH server's children count (OpenSSH's `sshd`
 * or `sshd-session`, Dropbear's `dropbear`): on a host that is also the client, the OpenSSH
 * transport's own `ssh ... -- COMMAND` carries the marker too.
 *
 * The marker is put together when the script runs, so the script's own text (its shell's command
 * line, and sudo's) does not carry it; a grep that does has ended before anything is signalled.
 */
export function killerScript(job: string, signal: string): string {
  const sig = signal.replace(/^SIG/, '');
  const field = (pid: string, n: number) =>
    `$(sed 's/.*) //' /proc/${pid}/stat 2>/dev/null | cut -d' ' -f${n})`;
  return (
    `m=${JOB_VAR}; m="$m=${job}"; ` +
    `for f in $(grep -lzx -e "$m" /proc/[0-9]*/environ 2>/dev/null; ` +
    `for c in $(grep -lzF -e "$m" /proc/[0-9]*/cmdline 2>/dev/null); do ` +
    `q=\${c#/proc/}; q=\${q%/*}; r=${field('$q', 2)}; ` +
    `case $(cat /proc/$r/comm 2>/dev/null) in sshd|sshd-session|dropbear) echo $c;; esac; done); do ` +
    `p=\${f#/proc/}; p=\${p%/*}; [ "$p" = "$$" ] && continue; ` +
    `g=${field('$p', 3)}; ` +
    `case $g in ''|0|1) ;; *) kill -s ${sig} -- -$g 2>/dev/null;; esac; ` +
    `kill -s ${sig} -- -$p 2>/dev/null; kill -s ${sig} $p 2>/dev/null; done; true`
  );
}

/** Records the exit status from the moment the channel exists (see SshConnection.exec). */
function watchChannel(channel: ClientChannel): { exit: ExecOutcome | undefined } {
  const state: { exit: ExecOutcome | undefined } = { exit: undefined };
  channel.on('exit', (code: number | null, signal?: string) => {
    state.exit =
      code !== null && code !== undefined
        ? { exitCode: code, signal: null }
        : { exitCode: null, signal: signal ?? 'SIGKILL' };
  });
  channel.on('error', () => {}); // reported through 'close'
  return state;
}

/**
 * A command's processes on its host, and how to reach them: the marker in their environment, its
 * connection, and the sudo and terminal it ran with (the kill helper runs as the command did: a
 * command under sudo runs as another user, whom the login user may not signal).
 */
interface Job {
  id: string;
  pool: SshPool;
  conn: SshConnection;
  sudo: SudoDialogOptions | undefined;
  pty: Pty | undefined;
}

function runChannel(
  channel: ClientChannel,
  state: { exit: ExecOutcome | undefined },
  req: ExecRequest,
  job: Job,
  sudo?: SudoDialog,
): Promise<ExecOutcome> {
  const conn = job.conn;
  return new Promise((resolve, reject) => {
    let killSignal: string | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const settle = (outcome: ExecOutcome | Error) => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener('abort', onAbort);
      for (const t of timers) clearTimeout(t);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };

    channel.on('data', (chunk: Buffer) => req.onData('stdout', chunk));
    channel.stderr.on('data', (chunk: Buffer) => req.onData('stderr', chunk));

    feedCommandInput(channel, req.stdin, Boolean(req.pty));

    const onAbort = () => {
      const { signal, graceMs } = killRequestOf(req.signal);
      killSignal = signal;
      sendSignal(channel, signal);
      timers.push(setTimeout(() => killJob(job, signal), Math.min(HELPER_DELAY_MS, graceMs)));
      // A last sweep once the grace is over, even if the call has ended by then: a process the
      // command started after the first sweep, or one its shell left when it died of the signal,
      // is found by the job marker (as the OpenSSH transport's late sweep does).
      setTimeout(() => killJob(job, 'SIGKILL'), graceMs + LATE_SWEEP_MS).unref();
      if (signal !== 'SIGKILL') {
        // The SIGKILL sweep too outlives the call: a shell that the first sweep ended before its
        // background job had started leaves that job to this sweep and the last one.
        setTimeout(() => killJob(job, 'SIGKILL'), graceMs).unref();
        timers.push(
          setTimeout(() => {
            killSignal = 'SIGKILL';
            sendSignal(channel, 'SIGKILL');
          }, graceMs),
        );
      }
      // Whatever happens remotely, the call ends: a channel still open this long after SIGKILL
      // belongs to a server that no longer answers, so it is closed without waiting for its reply.
      timers.push(
        setTimeout(() => {
          conn.retire("a killed command's channel stayed open");
          channel.close();
          settle({ exitCode: null, signal: killSignal! });
        }, graceMs + KILLED_CHANNEL_WAIT_MS),
      );
    };
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });

    // sudo on a terminal that has not exited a while after its command ended: stuck (sudo.ts's
    // header). Closing the channel hangs its terminal up, which ends it.
    sudo?.watchExit(timers, () => channel.close(), settle);

    channel.on('close', () => {
      sudo?.flush();
      // On a terminal, sudo's command told how it ended (its signal, where sudo's status is 128+N).
      const told = sudo?.commandOutcome;
      if (told) return settle(told);
      if (state.exit) return settle(state.exit);
      if (killSignal) return settle({ exitCode: null, signal: killSignal });
      const lost = conn.closedError;
      settle(
        new ConnectionError(
          'closed',
          conn.label,
          lost
            ? `the connection was lost while the command was running (${lost.message.replace(/^[^:]*: (connection lost: )?/, '').split('\n')[0]}); it may or may not have completed on the host`
            : 'the server closed the channel without an exit status',
          { cause: lost },
        ),
      );
    });
  });
}

/**
 * Signals every process of a job on its host, through the killer script on a second channel (on a
 * fresh connection if this one has closed), through sudo when the command ran through sudo. Best
 * effort and bounded: it gives up after HELPER_TIMEOUT_MS, and keeps the process alive no longer
 * than that.
 */
function killJob(job: Job, signal: string): void {
  const { conn, pool } = job;
  const c = conn.state === 'closed' ? pool.connection(conn.target) : conn;
  const hold = c.hold();
  // On a connection retired meanwhile (its server stopped answering) the helper would only wait.
  const bound = AbortSignal.any(
    c.retired
      ? [AbortSignal.timeout(HELPER_TIMEOUT_MS)]
      : [AbortSignal.timeout(HELPER_TIMEOUT_MS), c.retiring],
  );
  const sudo = job.sudo ? new SudoDialog(job.sudo) : undefined;
  const script = killerScript(job.id, signal);
  const pty = sudo ? job.pty : undefined; // a terminal only for sudo's sake (requiretty)
  abortable(c.connect(), bound)
    .then(() => c.exec(sudo ? sudo.command(':', script) : script, { priority: true, signal: bound, pty }))
    .then(({ channel: ch, release }) => {
      const done = () => {
        clearTimeout(timer);
        release();
        hold();
      };
      const timer = setTimeout(() => (ch.close(), done()), HELPER_TIMEOUT_MS);
      ch.on('close', done);
      if (!sudo) {
        ch.on('data', () => {});
        ch.stderr.on('data', () => {});
        ch.end();
        return;
      }
      // sudo's conversation: its password when it asks, then end of input.
      const io = sudo.wire({ command: script, signal: bound, onData: () => {} });
      ch.on('data', (d: Buffer) => io.onData('stdout', d));
      ch.stderr.on('data', (d: Buffer) => io.onData('stderr', d));
      const input = io.stdin as Readable;
      input.on('data', (d: Buffer) => ch.write(d));
      input.on('end', () => (pty ? ch.write(Buffer.of(EOT)) : ch.end()));
    })
    .catch(() => hold());
}

/** A `signal` channel request, sent even after stdin was closed (ssh2's Channel.signal drops it then). */
function sendSignal(channel: ClientChannel, signal: string): void {
  const name = signal.replace(/^SIG/, '');
  const ch = channel as unknown as {
    _client?: { _protocol?: { signal(id: number, name: string): void } };
    outgoing?: { id: number; state: string };
  };
  try {
    if (
      ch._client?._protocol &&
      ch.outgoing &&
      (ch.outgoing.state === 'open' || ch.outgoing.state === 'eof')
    ) {
      ch._client._protocol.signal(ch.outgoing.id, name);
    } else channel.signal(name);
  } catch {
    // the channel is closing anyway
  }
}
