// Runs one command through the system ssh: a client (`ssh -S SOCKET -o ControlMaster=no host --
// command`) on the target's ControlMaster, its stdin, stdout and stderr the command's, with the
// same semantics as the ssh2 transport's SshExecutor: the exit status or signal (from the end
// frame, end-frame.ts), binary-safe output, input and its end, env, cwd, sudo (sudo.ts's dialog
// over the client's streams), a pseudo-terminal (`-tt`), and a kill that ends the remote command:
// the ssh2 transport's helper (the job marker and the /proc sweep of ssh-executor.ts) run as
// another client on the same master, SIGTERM then SIGKILL after the grace period. ssh has no way
// to send a signal request, so the helper goes at once.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { homedir } from 'node:os';
import type { Readable } from 'node:stream';
import { abortable } from '../../process/abort.js';
import {
  abbreviate,
  CancelledError,
  ConnectionError,
  FleetshError,
  UsageError,
} from '../../process/errors.js';
import { killRequestOf, type ExecOutcome, type ExecRequest, type Executor } from '../../process/executor.js';
import {
  commandSetup,
  HELPER_TIMEOUT_MS,
  JOB_VAR,
  killerScript,
  LATE_SWEEP_MS,
  nextJobId,
  sudoOptions,
  wrapCommand,
} from '../ssh-executor.js';
import { ptyRefused } from '../classify.js';
import { ptyOf } from '../../process/exec-options.js';
import { SudoDialog, type SudoDialogOptions } from '../sudo.js';
import type { ResolvedTarget, SshTarget } from '../types.js';
import { clientEnv, ControlMaster, ControlMasters, killGroup, SSH_BINARY } from './control-master.js';
import { EndFrame } from '../end-frame.js';
import { commandArgs, connectionArgs, type PathContext } from './ssh-args.js';
import { connectionLost, lostConnection } from './ssh-errors.js';
import { EOT, feedCommandInput } from '../command-input.js';

/** How long after SIGKILL a killed command's client may take before it is killed here. */
const KILLED_CLIENT_WAIT_MS = 1000;
/** ssh's own last words kept from a client's stderr, to tell a lost connection. */
const STDERR_TAIL = 2048;

export interface OpensshContext {
  masters: ControlMasters;
  resolve(): Promise<ResolvedTarget>;
  /** The target as the user gave it: its explicit options become ssh's arguments. */
  raw: SshTarget;
  /** Where `~` and relative paths of the options point (the resolve context's). */
  paths: { homedir?: string; cwd?: string };
}

export class OpensshExecutor implements Executor {
  readonly host: string;
  readonly #ctx: OpensshContext;

  constructor(host: string, ctx: OpensshContext) {
    this.host = host;
    this.#ctx = ctx;
  }

  async ready(signal: AbortSignal): Promise<void> {
    await this.master(signal);
  }

  /** The target's master, started (a master that exited while idle is replaced). */
  async master(signal?: AbortSignal): Promise<ControlMaster> {
    const target = await this.#ctx.resolve();
    const where: PathContext = {
      homedir: this.#ctx.paths.homedir ?? homedir(),
      cwd: this.#ctx.paths.cwd ?? process.cwd(),
    };
    const common = connectionArgs(this.#ctx.raw, target, where);
    for (let attempt = 1; ; attempt++) {
      const master = this.#ctx.masters.master(target, common);
      await abortable(master.connect(), signal);
      if (attempt >= 2 || (await master.alive())) return master;
      await master.close();
    }
  }

  async exec(req: ExecRequest): Promise<ExecOutcome> {
    if (req.command.includes('\0')) {
      throw new UsageError(
        `${this.host}: the command contains a NUL byte, which no shell can run: ${abbreviate(req.command)}`,
        { host: this.host },
      );
    }
    try {
      const target = await this.#ctx.resolve();
      // As over ssh2: RequestTTY yes or force gives a terminal to a command that did not say;
      // `pty: false` (the command said no) and undefined both mean none from here on.
      const pty = req.pty === undefined && target.requestTty ? ptyOf(true) : req.pty || undefined;
      const request: ExecRequest = req.pty === pty ? req : { ...req, pty };
      // This target's secrets: the master may have been started by another with the same pool key.
      const sudo = request.sudo ? sudoOptions(this.host, request, target) : undefined;
      const { master, release } = await this.#session(request.signal);
      try {
        return await runClient(this.host, master, request, {
          id: nextJobId(),
          master,
          sudo,
          pty: pty !== undefined,
        });
      } finally {
        release();
      }
    } catch (e) {
      if (req.signal.aborted && !(e instanceof FleetshError)) {
        throw new CancelledError(this.host, req.command, undefined, 'killed before it started');
      }
      throw e;
    }
  }

  /**
   * A session on the master. A master closed while the command waited for a session (its
   * connection died, close() was called) has run nothing of it: a new master is tried, once.
   */
  async #session(signal: AbortSignal): Promise<{ master: ControlMaster; release: () => void }> {
    for (let attempt = 1; ; attempt++) {
      const master = await this.master(signal);
      try {
        return { master, release: await master.sessions.acquire({ signal }) };
      } catch (e) {
        const closed = e instanceof ConnectionError && e.kind === 'closed';
        if (!closed || attempt >= 2 || signal.aborted) throw e;
      }
    }
  }
}

/** A command's processes on its host and how to reach them (see ssh-executor.ts's Job). */
interface Job {
  id: string;
  master: ControlMaster;
  sudo: SudoDialogOptions | undefined;
  pty: boolean;
}

function runClient(
  label: string,
  master: ControlMaster,
  request: ExecRequest,
  job: Job,
): Promise<ExecOutcome> {
  const frame = new EndFrame();
  const sudo = job.sudo ? new SudoDialog(job.sudo) : undefined;
  const pty = request.pty;
  const marker = `export ${JOB_VAR}=${job.id}`;
  const setup = pty ? `${frame.ptySetup(pty.rows, pty.cols)}\n` : '';
  const line = sudo
    ? frame.wrap(`${setup}${marker}`, sudo.command(':', wrapCommand(request, job.id)), false)
    : frame.wrap(`${setup}${commandSetup(request, job.id)}`, request.command, !pty);
  const req = sudo ? sudo.wire(request) : request;
  const args = commandArgs(master.common, master.socket, master.host, line, job.pty);
  // ssh asks for the terminal type it has in TERM. Its own process group: Ctrl-C reaches fleetsh,
  // which kills the remote command itself.
  const env = clientEnv(pty ? pty.term : undefined);
  const child = spawn(SSH_BINARY, args, {
    stdio: 'pipe',
    detached: true,
    env,
  }) as ChildProcessWithoutNullStreams;
  const framed = job.pty ? 'stdout' : 'stderr';
  let tail = '';

  return new Promise((resolve, reject) => {
    let killSignal: string | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const settle = (outcome: ExecOutcome | Error) => {
      if (settled) return;
      settled = true;
      request.signal.removeEventListener('abort', onAbort);
      for (const t of timers) clearTimeout(t);
      if (outcome instanceof Error) reject(outcome);
      else resolve(sudo ? sudo.outcome(outcome) : outcome);
    };

    const deliver = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
      if (stream === 'stderr') tail = (tail + chunk.toString('latin1')).slice(-STDERR_TAIL);
      const data = stream === framed ? frame.push(chunk) : chunk;
      if (data.length > 0) req.onData(stream, data);
    };
    child.stdout.on('data', (d: Buffer) => deliver('stdout', d));
    child.stderr.on('data', (d: Buffer) => deliver('stderr', d));
    child[framed].on('end', () => {
      const rest = frame.flush();
      if (rest.length > 0) req.onData(framed, rest);
      sudo?.flush();
    });

    // sudo on a terminal that has not exited a while after its command ended: stuck (sudo.ts's
    // header). Ending the client closes the session, which hangs its terminal up and ends it.
    sudo?.watchExit(timers, () => killGroup(child.pid, 'SIGTERM'), settle);

    // On a terminal, input waits until the terminal is set up (ssh's client gives a master's
    // terminal no modes: the host's `stty sane` gives it a line discipline, echo and ^D).
    if (pty) frame.onStart = () => feedInput(child, req, true);
    else feedInput(child, req, false);

    const onAbort = () => {
      const { signal, graceMs } = killRequestOf(request.signal);
      killSignal = signal;
      killJob(job, signal);
      // The sweeps go on after the call has ended: the client ends when the shell that reports
      // does, and processes that ignore SIGTERM (or started late) may outlive it.
      if (signal !== 'SIGKILL') {
        setTimeout(() => {
          if (!settled) killSignal = 'SIGKILL';
          killJob(job, 'SIGKILL');
        }, graceMs).unref();
      }
      // A command the host started after the sweep (its session opened late) is found by this one.
      const late = (signal === 'SIGKILL' ? 0 : graceMs) + LATE_SWEEP_MS;
      setTimeout(() => killJob(job, 'SIGKILL'), late).unref();
      // Whatever happens remotely, the call ends: the client is killed here.
      timers.push(
        setTimeout(() => {
          killGroup(child.pid, 'SIGKILL');
          settle({ exitCode: null, signal: killSignal! });
        }, graceMs + KILLED_CLIENT_WAIT_MS),
      );
    };
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener('abort', onAbort, { once: true });

    child.on('error', (e) =>
      settle(
        new ConnectionError('config', label, `cannot run the system ssh (${e.message})`, {
          hint: "The OpenSSH transport needs OpenSSH's ssh client on the PATH.",
        }),
      ),
    );
    child.on('close', (code) => {
      if (frame.ptyRefused) return settle(ptyRefused(label, undefined));
      // sudo's command on a terminal told how it ended (its signal, where sudo's status is 128+N).
      if (sudo?.commandOutcome) return settle(sudo.commandOutcome);
      if (frame.outcome) return settle(frame.outcome);
      if (killSignal) return settle({ exitCode: null, signal: killSignal });
      if (code !== null && code !== 255) return settle({ exitCode: code, signal: null });
      // 255 without a frame: ssh failed, or the shell that reports was itself killed.
      void master.alive().then((alive) => {
        if (!alive || connectionLost(tail)) {
          void master.close();
          settle(lostConnection(label, tail));
        } else settle({ exitCode: code ?? 255, signal: null });
      });
    });
  });
}

/** The command's input on the client's stdin, by the same rule as over ssh2 (command-input.ts). */
function feedInput(child: ChildProcessWithoutNullStreams, req: ExecRequest, pty: boolean): void {
  child.stdin.on('error', () => {}); // the command ended without reading it all
  feedCommandInput(child.stdin, req.stdin, pty);
}

/**
 * The kill helper of ssh-executor.ts as one more client on the master (before the commands that
 * wait for a session), through sudo when the command used it. Best effort, and bounded.
 */
function killJob(job: Job, signal: string): void {
  const { master } = job;
  if (master.closed) return;
  const sudo = job.sudo ? new SudoDialog(job.sudo) : undefined;
  const script = killerScript(job.id, signal);
  const pty = sudo ? job.pty : false; // a terminal only for sudo's sake (requiretty)
  master.sessions
    .acquire({ priority: true, signal: AbortSignal.timeout(HELPER_TIMEOUT_MS) })
    .then((release) => {
      const args = commandArgs(
        master.common,
        master.socket,
        master.host,
        sudo ? sudo.command(':', script) : script,
        pty,
      );
      const child = spawn(SSH_BINARY, args, {
        stdio: 'pipe',
        detached: true,
        env: clientEnv(undefined),
      }) as ChildProcessWithoutNullStreams;
      const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), HELPER_TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        release();
      };
      child.on('error', done);
      child.on('close', done);
      child.stdin.on('error', () => {});
      if (!sudo) {
        child.stdout.resume();
        child.stderr.resume();
        child.stdin.end();
        return;
      }
      const io = sudo.wire({
        command: script,
        signal: AbortSignal.timeout(HELPER_TIMEOUT_MS),
        onData: () => {},
      });
      child.stdout.on('data', (d: Buffer) => io.onData('stdout', d));
      child.stderr.on('data', (d: Buffer) => io.onData('stderr', d));
      const input = io.stdin as Readable;
      input.on('data', (d: Buffer) => child.stdin.write(d));
      input.on('end', () => (pty ? child.stdin.write(Buffer.of(EOT)) : child.stdin.end()));
    })
    .catch(() => {});
}
