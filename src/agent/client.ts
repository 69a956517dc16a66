// The CLI's side of the agent: one socket to it (checked before use, see paths.ts), requests
// multiplexed on it by id, and an Executor per host whose commands run on the agent's
// connections. Only the transport crosses: the fleet engine stays in the CLI, so a report, its
// events and exit codes are the same as over direct connections.
import { homedir, userInfo } from 'node:os';
import { connect as netConnect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Readable } from 'node:stream';
import { abortable } from '../process/abort.js';
import { ConnectionError, SudoError, type SudoFailureFacts } from '../process/errors.js';
import { killRequestOf, type ExecOutcome, type ExecRequest, type Executor } from '../process/executor.js';
import type { FleetTransferFile, FleetUploadOptions } from '../fleet/target.js';
import type { ResolveContext } from '../ssh/resolve.js';
import type { AgentStatus } from './daemon.js';
import { checkDir, checkFile, type AgentPaths } from './paths.js';
import {
  encodeFrame,
  FrameDecoder,
  frameSender,
  PROTOCOL_VERSION,
  STDIN_CHUNK,
  STDIN_WINDOW,
  type Header,
} from './protocol.js';
import { fromWire, type WireError } from './wire-error.js';

/** How long past a kill's grace period the agent may take to say the command ended. */
const KILL_ANSWER_MS = 10_000;
/** How long connecting to a running agent may take, through its hello. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * The client's variables a resolution may read (IdentityAgent, `${VAR}` in paths, LANG and LC_*,
 * which Debian's ssh_config sends with SendEnv, and KRB5CCNAME, for GSSAPIAuthentication's
 * warning): no others cross.
 */
const CONTEXT_ENV = ['SSH_AUTH_SOCK', 'HOME', 'USER', 'LOGNAME', 'XDG_RUNTIME_DIR', 'LANG', 'KRB5CCNAME'];

interface Pending {
  onFrame(header: Header, payload: Buffer): void;
  /** The agent went away before the request ended. */
  onLost(): void;
}

/** The agent is not there (no socket, or nobody listening on it): it can be started. */
export class AgentAbsentError extends Error {}

export class AgentClient {
  readonly paths: AgentPaths;
  readonly pid: number;
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #frames: ReturnType<typeof frameSender>;
  #nextId = 1;
  #lost = false;
  /** Where the agent's warnings for this client go (ssh_config keywords it does not honour); default: dropped. */
  onWarning: ((message: string) => void) | undefined;

  private constructor(paths: AgentPaths, socket: Socket, pid: number, decoder: FrameDecoder) {
    this.paths = paths;
    this.#socket = socket;
    this.#frames = frameSender(socket);
    this.pid = pid;
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const { header, payload } of frames) {
        if (header.t === 'warning') this.onWarning?.(String(header.message));
        else this.#pending.get(header.id ?? -1)?.onFrame(header, payload);
      }
    });
    socket.on('close', () => {
      this.#lost = true;
      const lost = [...this.#pending.values()];
      this.#pending.clear();
      for (const p of lost) p.onLost();
    });
    socket.unref();
  }

  /**
   * Connects to the running agent: the folder, socket and token are checked (AgentUnsafeError),
   * then the token is presented. Rejects with AgentAbsentError when no agent listens.
   */
  static async connect(paths: AgentPaths): Promise<AgentClient> {
    let token: string;
    try {
      checkDir(paths);
      checkFile(paths.socket, 'socket');
      checkFile(paths.token, 'file');
      token = readFileSync(paths.token, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new AgentAbsentError('no agent socket');
      throw e;
    }
    const socket = netConnect(paths.socket);
    const decoder = new FrameDecoder();
    const pid = await new Promise<number>((resolve, reject) => {
      const fail = (e: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () => fail(new Error(`the agent did not answer within ${CONNECT_TIMEOUT_MS} ms`)),
        CONNECT_TIMEOUT_MS,
      );
      socket.once('error', (e: NodeJS.ErrnoException) =>
        fail(
          e.code === 'ECONNREFUSED' || e.code === 'ENOENT'
            ? new AgentAbsentError('nobody listens on the agent socket')
            : e,
        ),
      );
      socket.once('close', () =>
        fail(new AgentAbsentError('the agent hung up (a stale token or another version)')),
      );
      const onData = (chunk: Buffer) => {
        let frames;
        try {
          frames = decoder.push(chunk);
        } catch (e) {
          return fail(e as Error);
        }
        const hello = frames[0]?.header;
        if (!hello) return;
        socket.off('data', onData);
        clearTimeout(timer);
        socket.removeAllListeners('error').removeAllListeners('close');
        if (hello.t !== 'hello' || typeof hello.pid !== 'number')
          return fail(
            new Error(
              hello.t === 'error'
                ? String((hello.error as { message?: unknown } | undefined)?.message)
                : 'the agent answered something else than hello',
            ),
          );
        resolve(hello.pid);
      };
      socket.on('data', onData);
      socket.write(encodeFrame({ t: 'hello', token, version: PROTOCOL_VERSION }));
    });
    socket.on('error', () => {}); // reported through 'close'
    return new AgentClient(paths, socket, pid, decoder);
  }

  /** The agent went away (killed, stopped, idle): requests from now on fail. */
  get lost(): boolean {
    return this.#lost;
  }

  status(): Promise<AgentStatus> {
    return this.#ask({ t: 'status' }) as unknown as Promise<AgentStatus>;
  }

  /** Asks the agent to stop; resolves once its socket closed. */
  async stop(): Promise<void> {
    const closed = new Promise((r) => this.#socket.once('close', r));
    await this.#ask({ t: 'stop' });
    this.#socket.ref();
    await closed;
  }

  close(): void {
    this.#frames.flush(); // kills sent in this turn go before the socket closes
    this.#socket.destroy();
  }

  /** Starts a request; returns its id and a sender for its later messages. */
  open(header: Header, pending: Pending): { id: number; send(h: Header, payload?: Buffer): void } {
    const id = this.#nextId++;
    const send = (h: Header, payload?: Buffer) => {
      this.#frames.send({ ...h, id }, payload);
    };
    if (this.#lost) {
      queueMicrotask(() => pending.onLost());
      return { id, send };
    }
    this.#pending.set(id, {
      onFrame: pending.onFrame,
      onLost: pending.onLost,
    });
    if (this.#pending.size === 1) this.#socket.ref();
    send(header);
    return { id, send };
  }

  /** The request ended: nothing more comes for it. */
  settle(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#socket.unref();
  }

  #ask(header: Header): Promise<Header> {
    return new Promise((resolve, reject) => {
      const { id } = this.open(header, {
        onFrame: (h) => {
          this.settle(id);
          if (h.t === 'error') reject(fromWire(h.error as WireError));
          else resolve(h);
        },
        onLost: () => reject(new Error('the agent went away')),
      });
    });
  }
}

/** What the agent needs of this process to resolve a target as it would: no secret is in it. */
export function clientContext(): ResolveContext {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env))
    if (value !== undefined && (CONTEXT_ENV.includes(name) || name.startsWith('LC_'))) env[name] = value;
  return { cwd: process.cwd(), homedir: homedir(), localUser: userInfo().username, env };
}

/** Commands on one host, run on the agent's connection to it. */
export class AgentExecutor implements Executor {
  readonly host: string;
  readonly #client: AgentClient;
  readonly #target: object;
  readonly #context: ResolveContext;
  #ready: Promise<void> | undefined;

  constructor(client: AgentClient, host: string, target: object, context: ResolveContext) {
    this.#client = client;
    this.host = host;
    this.#target = target;
    this.#context = context;
  }

  /**
   * Connected and authenticated on the agent's side. Asked once per host and run (the fleet's early
   * connect, then each command's): once it succeeded, later calls do not ask again.
   */
  ready(signal: AbortSignal): Promise<void> {
    if (this.#ready) return abortable(this.#ready, signal);
    const asked = this.#ask(signal);
    this.#ready = asked;
    asked.catch(() => {
      if (this.#ready === asked) this.#ready = undefined;
    });
    return asked;
  }

  #ask(signal: AbortSignal): Promise<void> {
    return this.#request({ t: 'ready', target: this.#target, context: this.#context }, signal, {
      onData: () => {},
      done: (_h, resolve) => resolve(undefined),
    }) as Promise<void>;
  }

  exec(req: ExecRequest): Promise<ExecOutcome> {
    const header: Header = {
      t: 'exec',
      target: this.#target,
      context: this.#context,
      command: req.command,
      env: req.env,
      cwd: req.cwd,
      pty: req.pty,
      sudo: req.sudo ? { user: req.sudo.user } : undefined,
      stdin: req.stdin !== undefined,
    };
    return this.#request(header, req.signal, {
      input: req.stdin,
      onData: req.onData,
      done: (h, resolve) => {
        const outcome: ExecOutcome = {
          exitCode: typeof h.exitCode === 'number' ? h.exitCode : null,
          signal: typeof h.signal === 'string' ? h.signal : null,
        };
        if (h.sudo) {
          const facts = h.sudo as SudoFailureFacts;
          outcome.failure = (result) => new SudoError(result, facts);
        }
        resolve(outcome);
      },
    }) as Promise<ExecOutcome>;
  }

  /**
   * One file up or down on the agent's SFTP session. The agent reads or writes the local file by
   * its path; `beforeReplace` (the fleet's check of the written copy) runs here when the agent asks,
   * and its error, if it throws, is the one the transfer rejects with.
   */
  transfer(
    op: 'upload' | 'download' | 'upload-directory' | 'download-directory',
    local: string,
    remote: string,
    options: FleetUploadOptions = {},
  ): Promise<unknown> {
    const header: Header = {
      t: 'transfer',
      target: this.#target,
      context: this.#context,
      op,
      local: resolvePath(local),
      remote,
      mode: options.mode,
      mkdirs: options.mkdirs,
      atomic: options.atomic,
      check: options.beforeReplace !== undefined,
      prepare: options.beforeFiles !== undefined,
    };
    let refused: unknown;
    return this.#request(header, options.signal ?? new AbortController().signal, {
      onData: () => {},
      onCheck: (h, answer) => {
        const run =
          h.hook === 'beforeFiles'
            ? options.beforeFiles?.(h.files as FleetTransferFile[])
            : options.beforeReplace?.(String(h.written), h.file as FleetTransferFile);
        (run ?? Promise.resolve()).then(
          () => answer({ t: 'answer', call: h.call }),
          (e: unknown) => {
            refused = e;
            answer({ t: 'answer', call: h.call, error: e instanceof Error ? e.message : String(e) });
          },
        );
      },
      done: (h, resolve) => resolve(h.result),
    }).catch((e: unknown) => {
      throw refused ?? e;
    });
  }

  #request(
    header: Header,
    signal: AbortSignal,
    how: {
      input?: ExecRequest['stdin'];
      onData: ExecRequest['onData'];
      onCheck?(h: Header, answer: (h: Header) => void): void;
      done(h: Header, resolve: (v: unknown) => void): void;
    },
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let stopInput = () => {};
      let unanswered: NodeJS.Timeout | undefined;
      const end = () => {
        signal.removeEventListener('abort', onAbort);
        clearTimeout(unanswered);
        stopInput();
        this.#client.settle(id);
      };
      // A kill the agent does not answer (it stopped without closing its socket) ends the wait, so
      // that a timeout or a deadline still ends the run.
      const onAbort = () => {
        const { signal: sig, graceMs } = killRequestOf(signal);
        send({ t: 'kill', signal: sig, graceMs });
        unanswered = setTimeout(() => {
          end();
          reject(
            new ConnectionError(
              'closed',
              this.host,
              `the fleetsh agent did not answer a kill within ${Math.round((graceMs + KILL_ANSWER_MS) / 1000)} s`,
              {
                stage: 'connected',
                hint: `Its pid is ${this.#client.pid}; its log is ${this.#client.paths.log}.`,
              },
            ),
          );
        }, graceMs + KILL_ANSWER_MS);
      };
      const { id, send } = this.#client.open(header, {
        onFrame: (h, payload) => {
          if (h.t === 'data') how.onData(h.stream === 'stderr' ? 'stderr' : 'stdout', payload);
          else if (h.t === 'ack') ackInput(Number(h.bytes));
          else if (h.t === 'check' && how.onCheck) how.onCheck(h, send);
          else if (h.t === 'error') {
            end();
            reject(fromWire(h.error as WireError));
          } else if (h.t === 'done' || h.t === 'ok') {
            end();
            how.done(h, resolve);
          }
        },
        onLost: () => {
          end();
          reject(
            new ConnectionError(
              'closed',
              this.host,
              'the fleetsh agent went away while this host was in use',
              {
                stage: 'connected',
                hint: `Its log is ${this.#client.paths.log}; fleetsh starts it again on the next run (--no-agent connects directly).`,
              },
            ),
          );
        },
      });
      let ackInput = (_bytes: number) => {};
      if (how.input !== undefined) ({ stop: stopInput, ack: ackInput } = pumpInput(how.input, send));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Sends a command's input in chunks, at most STDIN_WINDOW bytes ahead of the agent's acknowledgement. */
function pumpInput(
  input: string | Buffer | Readable,
  send: (h: Header, payload?: Buffer) => void,
): { stop(): void; ack(bytes: number): void } {
  const stream = input instanceof Readable ? input : Readable.from([Buffer.from(input)]);
  let sent = 0;
  let acked = 0;
  let done = false;
  const onData = (chunk: Buffer | string) => {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    for (let at = 0; at < bytes.length; at += STDIN_CHUNK)
      send({ t: 'stdin' }, bytes.subarray(at, at + STDIN_CHUNK));
    sent += bytes.length;
    if (sent - acked >= STDIN_WINDOW) stream.pause();
  };
  const onEnd = () => {
    if (done) return;
    stop();
    send({ t: 'stdin-end' });
  };
  const stop = () => {
    done = true;
    stream.off('data', onData).off('end', onEnd).off('error', onEnd);
  };
  stream.on('data', onData).once('end', onEnd).once('error', onEnd);
  return {
    stop,
    ack: (bytes) => {
      if (Number.isFinite(bytes) && bytes > acked) acked = bytes;
      if (!done && stream.isPaused() && sent - acked < STDIN_WINDOW) stream.resume();
    },
  };
}
