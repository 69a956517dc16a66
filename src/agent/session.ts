// One CLI's connection to the agent: its first message must carry the token (paths.ts says why),
// then it sends requests, each with an id, and gets their output and ends back, interleaved.
//
//   client → agent: hello{token,version} exec{id,target,context,command,env,cwd,pty,sudo,stdin}
//                   ready{id,target,context} stdin{id}+bytes stdin-end{id} kill{id,signal,graceMs}
//                   transfer{id,target,context,op,local,remote,mode,mkdirs,atomic,check,prepare}
//                   answer{id,call,error?} status{id} stop{id}
//   agent → client: hello{pid} data{id,stream}+bytes ack{id,bytes} done{id,exitCode,signal,sudo?}
//                   done{id,result} check{id,call,hook,written?,file?,files?} ok{id} error{id,error}
//                   status{id,...} warning{id,message}
//
// Input is flow-controlled per command: the client sends at most STDIN_WINDOW bytes the agent has
// not acknowledged, and the agent acknowledges what the command's channel has taken. Output is
// sent as it comes (as a direct connection hands it to the command promise; the CLI reads its
// socket at once and caps what it keeps). A client that goes away takes its commands with it: they
// are killed on their hosts.
import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ptyOf, sudoOf } from '../process/exec-options.js';
import { UsageError, type SudoError } from '../process/errors.js';
import { KillRequest, type ExecOutcome } from '../process/executor.js';
import { CommandResult } from '../process/result.js';
import type { ResolveContext } from '../ssh/resolve.js';
import type { TransferFile, TransferOptions } from '../ssh/sftp-types.js';
import type { TargetTransport } from '../ssh/target-transport.js';
import { unhonouredWarning } from '../ssh/config-keywords.js';
import { chooseTransport } from '../ssh/transport.js';
import type { ResolvedTarget, SshTargetOptions } from '../ssh/types.js';
import { FrameDecoder, FrameError, frameSender, PROTOCOL_VERSION, type Header } from './protocol.js';
import { toWire } from './wire-error.js';

/** The first message must come within this long. */
const HELLO_TIMEOUT_MS = 10_000;
/** Settings a client never sends: the agent takes no secret over the socket (docs/agent.md). */
const SECRET_FIELDS = new Set(['password', 'passphrase', 'sudoPassword']);
const SIGNALS = new Set(['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']);

/** What a session needs of the agent (src/agent/daemon.ts). */
export interface SessionHost {
  readonly token: string;
  log(line: string): void;
  status(): object;
  executorFor(target: SshTargetOptions, context: ResolveContext): TargetTransport;
  commandStarted(): void;
  commandEnded(): void;
  sessionEnded(session: ClientSession): void;
  stop(why: string): Promise<void>;
}

interface Job {
  controller: AbortController;
  stdin?: Readable;
  pushed: number;
  acked: number;
  /** A transfer's hooks (beforeReplace, beforeFiles) waiting for the client's answer, by call number. */
  calls?: Map<number, (error: string | undefined) => void>;
}

export class ClientSession {
  readonly #agent: SessionHost;
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #frames: ReturnType<typeof frameSender>;
  readonly #jobs = new Map<number, Job>();
  #authed = false;
  #closed = false;
  /** ssh_config keywords this client was warned about: once each per client, as in a direct run. */
  readonly #warned = new Set<string>();
  readonly #helloTimer: NodeJS.Timeout;

  constructor(agent: SessionHost, socket: Socket) {
    this.#agent = agent;
    this.#socket = socket;
    this.#frames = frameSender(socket);
    this.#helloTimer = setTimeout(() => this.#drop('no hello in time'), HELLO_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of this.#decoder.push(chunk)) this.#onFrame(frame.header, frame.payload);
      } catch (e) {
        this.#drop(e instanceof FrameError ? `a malformed frame: ${e.message}` : String(e));
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.#ended());
  }

  close(): void {
    this.#frames.flush(); // a stop's answer goes before its socket closes
    this.#socket.destroy();
  }

  #drop(why: string): void {
    if (!this.#closed) this.#agent.log(`closed a client: ${why}`);
    this.#socket.destroy();
  }

  #ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#helloTimer);
    for (const job of this.#jobs.values()) job.controller.abort(new KillRequest('SIGTERM'));
    this.#agent.sessionEnded(this);
  }

  #send(header: Header, payload?: Buffer): void {
    if (!this.#closed) this.#frames.send(header, payload);
  }

  #onFrame(h: Header, payload: Buffer): void {
    if (!this.#authed) return this.#hello(h);
    const id = h.id ?? -1;
    switch (h.t) {
      case 'exec':
      case 'ready':
      case 'transfer':
        if (this.#jobs.has(id)) throw new FrameError(`request id ${id} is in use`);
        return this.#start(h, id);
      case 'stdin': {
        const job = this.#jobs.get(id);
        if (job?.stdin) {
          job.pushed += payload.length;
          job.stdin.push(Buffer.from(payload));
        }
        return;
      }
      case 'answer': {
        const call = Number(h.call);
        const answer = this.#jobs.get(id)?.calls?.get(call);
        this.#jobs.get(id)?.calls?.delete(call);
        answer?.(typeof h.error === 'string' ? h.error : undefined);
        return;
      }
      case 'stdin-end':
        this.#jobs.get(id)?.stdin?.push(null);
        return;
      case 'kill': {
        const signal = String(h.signal);
        const grace = Number(h.graceMs);
        const reason = new KillRequest(
          SIGNALS.has(signal) ? (signal as NodeJS.Signals) : 'SIGTERM',
          Number.isFinite(grace) && grace >= 0 ? Math.min(grace, 600_000) : undefined,
        );
        this.#jobs.get(id)?.controller.abort(reason);
        return;
      }
      case 'status':
        return this.#send({ t: 'status', id, ...this.#agent.status() });
      case 'stop':
        this.#send({ t: 'ok', id });
        void this.#agent.stop('asked to stop by a client');
        return;
      default:
        throw new FrameError(`an unknown message type ${JSON.stringify(h.t)}`);
    }
  }

  #hello(h: Header): void {
    const token = Buffer.from(typeof h.token === 'string' ? h.token : '');
    const want = Buffer.from(this.#agent.token);
    if (h.t !== 'hello' || token.length !== want.length || !timingSafeEqual(token, want))
      return this.#drop('its first message did not carry the token');
    if (h.version !== PROTOCOL_VERSION) {
      // fleetsh was upgraded (or downgraded) under a running agent: this one steps aside once it
      // runs nothing, so that the next run starts one of its own version.
      const busy = (this.#agent.status() as { commands: number }).commands > 0;
      this.#send({
        t: 'error',
        error: {
          name: 'Error',
          message: `the running agent (pid ${process.pid}) speaks protocol version ${PROTOCOL_VERSION}, not ${String(h.version)}${busy ? '; it stops once its commands end' : '; it stops now'}`,
        },
      });
      this.#agent.log(`closed a client: it speaks protocol version ${String(h.version)}`);
      this.#socket.end(); // after the answer (destroy would drop it)
      if (!busy) void this.#agent.stop('a client of another protocol version');
      return;
    }
    clearTimeout(this.#helloTimer);
    this.#authed = true;
    this.#send({ t: 'hello', pid: process.pid, version: PROTOCOL_VERSION });
  }

  #start(h: Header, id: number): void {
    const job: Job = { controller: new AbortController(), pushed: 0, acked: 0 };
    this.#jobs.set(id, job);
    this.#agent.commandStarted();
    const finish = () => {
      this.#jobs.delete(id);
      this.#agent.commandEnded();
    };
    let run: Promise<Header>;
    try {
      const target = checkTarget(h.target);
      const context = checkContext(h.context);
      const executor = this.#agent.executorFor(target, context);
      executor.target().then(
        // The system ssh honours what ssh2 does not: only a host over ssh2 gets these warnings.
        (t) => chooseTransport(t) === 'ssh2' && this.#warnUnhonoured(t, id),
        () => {}, // the request itself reports a resolution that failed
      );
      if (h.t === 'ready') {
        run = executor.ready!(job.controller.signal).then(() => ({ t: 'ok', id }));
      } else if (h.t === 'transfer') {
        run = this.#transfer(h, id, job, executor).then((result) => ({ t: 'done', id, result }));
      } else {
        if (typeof h.command !== 'string') throw new UsageError('exec: no command');
        if (h.stdin === true) job.stdin = this.#input(id, job);
        const sudo = sudoOf(h.sudo ?? undefined, 'sudo');
        if (sudo?.password !== undefined) throw new UsageError('the agent takes no sudo password');
        run = executor
          .exec({
            command: h.command,
            env: checkStrings(h.env, 'env'),
            cwd: typeof h.cwd === 'string' ? h.cwd : undefined,
            pty: h.pty === false ? false : ptyOf(h.pty ?? undefined),
            sudo,
            stdin: job.stdin,
            signal: job.controller.signal,
            onData: (stream, chunk) => this.#send({ t: 'data', id, stream }, chunk),
          })
          .then((outcome) =>
            doneHeader(id, outcome, executor.host, h.command as string, h.pty != null && h.pty !== false),
          );
      }
    } catch (e) {
      run = Promise.reject(e);
    }
    run.then(
      (header) => (finish(), this.#send(header)),
      (e: unknown) => (finish(), this.#send({ t: 'error', id, error: toWire(e) })),
    );
  }

  /** What the client's own pool would have warned about: the target's (and its hops') unhonoured keywords. */
  #warnUnhonoured(target: ResolvedTarget, id: number): void {
    for (const t of [...target.jump, target]) {
      for (const u of t.unhonoured) {
        const key = u.keyword.toLowerCase();
        if (this.#warned.has(key)) continue;
        this.#warned.add(key);
        this.#send({ t: 'warning', id, message: unhonouredWarning(u) });
      }
    }
  }

  /**
   * One file up or down over the agent's SFTP session. The local file is read or written here, by
   * its path (the agent is the same user on the same machine); a check before the copy replaces
   * its destination runs in the CLI (it is the fleet's), asked for and waited on by a call number.
   */
  async #transfer(h: Header, id: number, job: Job, executor: TargetTransport): Promise<unknown> {
    if (typeof h.local !== 'string' || typeof h.remote !== 'string' || !h.local.startsWith('/'))
      throw new UsageError('transfer: a local absolute path and a remote path are needed');
    const mode: TransferOptions['mode'] =
      h.mode === 'preserve' ? 'preserve' : typeof h.mode === 'number' ? h.mode : undefined;
    let calls = 0;
    /** Asks the CLI to run one of its hooks; resolves when it answered, rejects if the hook threw. */
    const hook = (message: Header) =>
      new Promise<void>((resolve, reject) => {
        const call = ++calls;
        (job.calls ??= new Map()).set(call, (error: string | undefined) =>
          error === undefined ? resolve() : reject(new CheckFailed(error)),
        );
        this.#send({ ...message, id, call });
      });
    const options: TransferOptions = {
      mode,
      mkdirs: h.mkdirs === true,
      atomic: h.atomic !== false,
      signal: job.controller.signal,
    };
    if (h.check === true)
      options.beforeReplace = (written: string, file: TransferFile) =>
        hook({ t: 'check', hook: 'beforeReplace', written, file });
    if (h.prepare === true)
      options.beforeFiles = (files: TransferFile[]) => hook({ t: 'check', hook: 'beforeFiles', files });
    const transfers = executor.transfers;
    if (h.op === 'upload') return transfers.uploadFile(h.local, h.remote, options);
    if (h.op === 'download') return transfers.downloadFile(h.remote, h.local, options);
    if (h.op === 'download-directory') return transfers.downloadDirectory(h.remote, h.local, options);
    if (h.op === 'upload-directory') return transfers.uploadDirectory(h.local, h.remote, options);
    throw new UsageError(`transfer: unknown operation ${JSON.stringify(h.op)}`);
  }

  /** The command's input as the client sends it, acknowledged as the channel reads it. */
  #input(id: number, job: Job): Readable {
    return new Readable({
      highWaterMark: 256 * 1024,
      read: () => {
        const consumed = job.pushed - (job.stdin?.readableLength ?? 0);
        if (consumed > job.acked) {
          job.acked = consumed;
          this.#send({ t: 'ack', id, bytes: consumed });
        }
      },
    });
  }
}

/** The CLI's check refused the written copy: the CLI rejects with its own error, not this one. */
class CheckFailed extends Error {}

/** How a command ended; a sudo that did not run it is sent as its facts (the CLI rebuilds the SudoError). */
function doneHeader(id: number, outcome: ExecOutcome, host: string, command: string, pty: boolean): Header {
  const header: Header = { t: 'done', id, exitCode: outcome.exitCode, signal: outcome.signal };
  if (outcome.failure) {
    const probe = new CommandResult({
      host,
      command,
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      stdoutBuffer: Buffer.alloc(0),
      stderrBuffer: Buffer.alloc(0),
      stdoutTruncated: false,
      stderrTruncated: false,
      stderrTail: '',
      durationMs: 0,
    });
    const e = outcome.failure(probe) as SudoError;
    header.sudo = { reason: e.reason, user: e.user, passwordGiven: false, pty };
  }
  return header;
}

function checkTarget(value: unknown): SshTargetOptions {
  if (typeof value !== 'object' || value === null || typeof (value as { host?: unknown }).host !== 'string')
    throw new UsageError('the agent was sent a target without a host');
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    for (const [k, inner] of Object.entries(v)) {
      if (SECRET_FIELDS.has(k)) throw new UsageError(`the agent takes no ${k}: connect directly`);
      walk(inner);
    }
  };
  walk(value);
  return value as SshTargetOptions;
}

function checkContext(value: unknown): ResolveContext {
  const c = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const str = (k: string) => (typeof c[k] === 'string' ? (c[k] as string) : undefined);
  return {
    cwd: str('cwd'),
    homedir: str('homedir'),
    localUser: str('localUser'),
    env: checkStrings(c.env, 'context.env') ?? {},
    // A client sends only a few of its variables (client.ts): SendEnv cannot see the others.
    partialEnv: true,
  };
}

function checkStrings(value: unknown, what: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${what}: not an object`);
  for (const v of Object.values(value))
    if (typeof v !== 'string') throw new UsageError(`${what}: not strings`);
  return value as Record<string, string>;
}
