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
// after the grace period, then the channel is closed.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { quote } from '../command/quote.js';
import { abortable } from '../process/abort.js';
import { abbreviate, CancelledError, ConnectionError, FleetshError, UsageError } from '../process/errors.js';
import { killRequestOf, type ExecOutcome, type ExecRequest, type Executor } from '../process/executor.js';
import type { SshConnection } from './connection.js';
import type { SshPool } from './pool.js';
import type { ResolvedTarget } from './types.js';

export const JOB_VAR = 'FLEETSH_JOB';
/** Job markers: random per process, then a counter (a random draw per command costs more than it buys). */
const JOB_PREFIX = randomBytes(6).toString('hex');
let jobCounter = 0;
const nextJobId = () => `${JOB_PREFIX}${(jobCounter++).toString(36)}`;
/** How long after the signal request the /proc helper is sent if the command is still running. */
const HELPER_DELAY_MS = 200;
/** How long the /proc helper may take, from asking for its channel to its end. */
const HELPER_TIMEOUT_MS = 10_000;
/**
 * How long after SIGKILL a killed command's channel may stay open before the call ends without it.
 * sshd closes it within milliseconds of the process's end (a few hundred under a loaded CPU).
 */
const KILLED_CHANNEL_WAIT_MS = 1000;

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

  async exec(req: ExecRequest): Promise<ExecOutcome> {
    if (req.command.includes('\0')) {
      throw new UsageError(
        `${this.host}: the command contains a NUL byte, which no shell can run: ${abbreviate(req.command)}`,
        {
          host: this.host,
        },
      );
    }
    const target = await this.#ctx.resolve();
    for (let attempt = 1; ; attempt++) {
      const conn = this.#ctx.pool.connection(target);
      const hold = conn.hold();
      let opened = false;
      try {
        await abortable(conn.connect(), req.signal);
        const job = nextJobId();
        let run: ReturnType<typeof watchChannel> | undefined;
        const { channel, release } = await conn.exec(wrapCommand(req, job), {
          signal: req.signal,
          attach: (ch) => (run = watchChannel(ch)),
          // The server started the command after we gave up on it: end it.
          abandon: (ch) => {
            sendSignal(ch, 'SIGKILL');
            ch.close();
            killJob(this.#ctx.pool, conn, job, 'SIGKILL');
          },
        });
        opened = true;
        try {
          return await runChannel(this.#ctx.pool, conn, channel, run!, req, job);
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

/** `export FLEETSH_JOB=…; export VAR=…; cd DIR || exit; COMMAND` (env names are validated upstream). */
export function wrapCommand(req: Pick<ExecRequest, 'command' | 'env' | 'cwd'>, job: string): string {
  let prefix = `export ${JOB_VAR}=${job}`;
  for (const [name, value] of Object.entries(req.env ?? {})) prefix += `; export ${name}=${quote(value)}`;
  if (req.cwd !== undefined) prefix += `; cd ${quote(req.cwd)} || exit`;
  return `${prefix}\n${req.command}`;
}

/** A shell script that signals every process (and process group) whose environment has the job marker. */
export function killerScript(job: string, signal: string): string {
  const sig = signal.replace(/^SIG/, '');
  return (
    `for f in $(grep -lzx ${JOB_VAR}=${job} /proc/[0-9]*/environ 2>/dev/null); do ` +
    `p=\${f#/proc/}; p=\${p%/environ}; kill -s ${sig} -- -$p 2>/dev/null; kill -s ${sig} $p 2>/dev/null; done; true`
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

function runChannel(
  pool: SshPool,
  conn: SshConnection,
  channel: ClientChannel,
  state: { exit: ExecOutcome | undefined },
  req: ExecRequest,
  job: string,
): Promise<ExecOutcome> {
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

    // stdin: nothing means end of input at once (as </dev/null locally).
    const input = req.stdin;
    if (input === undefined) channel.end();
    else if (input instanceof Readable) {
      input.on('error', () => channel.end());
      input.pipe(channel);
    } else channel.end(input);

    const onAbort = () => {
      const { signal, graceMs } = killRequestOf(req.signal);
      killSignal = signal;
      sendSignal(channel, signal);
      timers.push(setTimeout(() => killJob(pool, conn, job, signal), Math.min(HELPER_DELAY_MS, graceMs)));
      if (signal !== 'SIGKILL') {
        timers.push(
          setTimeout(() => {
            killSignal = 'SIGKILL';
            sendSignal(channel, 'SIGKILL');
            killJob(pool, conn, job, 'SIGKILL');
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

    channel.on('close', () => {
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
 * fresh connection if this one has closed). Best effort and bounded: it gives up after
 * HELPER_TIMEOUT_MS, and keeps the process alive no longer than that.
 */
function killJob(pool: SshPool, conn: SshConnection, job: string, signal: string): void {
  const c = conn.state === 'closed' ? pool.connection(conn.target) : conn;
  const hold = c.hold();
  // On a connection retired meanwhile (its server stopped answering) the helper would only wait.
  const bound = AbortSignal.any(
    c.retired
      ? [AbortSignal.timeout(HELPER_TIMEOUT_MS)]
      : [AbortSignal.timeout(HELPER_TIMEOUT_MS), c.retiring],
  );
  abortable(c.connect(), bound)
    .then(() => c.exec(killerScript(job, signal), { priority: true, signal: bound }))
    .then(({ channel: ch, release }) => {
      const done = () => {
        clearTimeout(timer);
        release();
        hold();
      };
      const timer = setTimeout(() => (ch.close(), done()), HELPER_TIMEOUT_MS);
      ch.on('close', done);
      ch.on('data', () => {});
      ch.stderr.on('data', () => {});
      ch.end();
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
