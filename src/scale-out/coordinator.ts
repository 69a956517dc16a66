// The coordinator's side of scale-out: a fleet `Connect` whose commands run on fleetsh workers
// through NATS JetStream. Only the transport moves: the fleet engine (window, budgets, fail-fast,
// deadline, retries, rolling batches, report, journal) stays in this process, so a run through
// workers has one concurrency cap, one budget and one report by construction.
//
// Each command is a job on its zone's work-queue subject; the worker that pulls it asks this
// coordinator before starting it (a claim), streams its output and end on the events stream, and
// acknowledges the job once its end is stored. Workers heartbeat; a job whose worker stops
// heartbeating is failed as interrupted (its outcome is unknown: `fleetsh resume` decides), a host
// whose zone has no live worker as unreachable (kind `no-worker`). No library does this: NATS gives
// the queue, the store and the redelivery; what a fleet command needs on top is here.
import { createHash, randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { makeShell } from '../command/shell.js';
import { sshConnect } from '../fleet/connect.js';
import {
  targetName,
  type Connect,
  type FleetShell,
  type FleetUploadOptions,
  type Target,
} from '../fleet/target.js';
import type { Inventory } from '../inventory/inventory.js';
import { abortable, sleep } from '../process/abort.js';
import { splitAddress } from '../process/address.js';
import { parseDuration, type Duration } from '../process/duration.js';
import { ConnectionError, FleetshError, SudoError, UsageError, formatMs } from '../process/errors.js';
import { killRequestOf, type ExecOutcome, type ExecRequest, type Executor } from '../process/executor.js';
import { labelOf } from '../ssh/shell.js';
import { TransferError } from '../ssh/sftp.js';
import { describeIoError } from '../process/io-error.js';
import { fromWire } from '../agent/wire-error.js';
import {
  checkFiles,
  loadNats,
  openNats,
  serversOf,
  shown,
  type NatsConnection,
  type NatsConnectionOptions,
} from './nats.js';
import { ensureStreams } from './streams.js';
import {
  checkToken,
  DEFAULT_ZONE,
  EVENT,
  FILE_CHUNK,
  FILE_LIMIT,
  jobTarget,
  json,
  namesFor,
  STDIN_LIMIT,
  WIRE_VERSION,
  type CancelBody,
  type ClaimAnswer,
  type ClaimRequest,
  type DoneBody,
  type ErrorBody,
  type Heartbeat,
  type JobMessage,
  type Names,
  type UploadJob,
} from './wire.js';

/** The `nats` option of `$.fleet()` and `$.rolling()`. */
export interface NatsFleetOptions extends NatsConnectionOptions {
  /** Subjects and streams start with this (default 'fleetsh'): one prefix per NATS account or team. */
  prefix?: string;
  /** A host's zone by its name; default: the target's `zone`, else the inventory's, else 'default'. */
  zoneOf?: (host: string) => string | undefined;
  /** How long a host waits for a live worker in its zone before it is unreachable (default 5 s). */
  workerWait?: Duration;
  /** How long the NATS server may be out of reach before the hosts in flight fail (default 30 s). */
  outageTimeout?: Duration;
  /** The work queue's ack wait: a job pulled by a worker that died is offered again after this (default 30 s). */
  ackWait?: Duration;
}

const NATS_KEYS = new Set([
  'servers',
  'creds',
  'tls',
  'prefix',
  'zoneOf',
  'workerWait',
  'outageTimeout',
  'ackWait',
]);

/** A worker counts as gone after this many heartbeat intervals without one (and at least MIN_DEAD_MS). */
const MISSED_BEATS = 5;
const MIN_DEAD_MS = 3000;
/** How often the coordinator checks workers, zones and outages. */
const TICK_MS = 250;
/** How long a kill may take past its grace period before the host is given up. */
const KILL_ANSWER_MS = 10_000;
/** With no job in flight for this long, the connection closes (it reopens on the next command). */
const IDLE_CLOSE_MS = 200;

/** A fleet Connect through NATS workers; validates the options now (a bad one is a UsageError). */
export function natsConnect(options: NatsFleetOptions, inventory?: Inventory): Connect {
  const coordinator = new Coordinator(options);
  const zoneOf = (name: string): string => {
    const own = options.zoneOf?.(name);
    if (own !== undefined) return checkToken(own, `${name}: zone`);
    const host = splitAddress(name).host;
    return inventory?.settingsFor(host).zone ?? DEFAULT_ZONE;
  };
  return (target: Target, connectOptions) => {
    const name = targetName(target);
    let zone: string;
    let rest: Target = target;
    if (typeof target === 'object' && target !== null && 'zone' in target) {
      const { zone: own, ...others } = target;
      zone = checkToken(own, `${name}: zone`);
      rest = others as Target;
    } else zone = zoneOf(name);
    const factory = (t: unknown): FleetShell => {
      let label: string;
      try {
        label = labelOf(t as never);
      } catch {
        label = name;
      }
      const executor = new NatsExecutor(coordinator, label, t, zone);
      return makeShell(executor, {}, () => ({
        uploadFile: (local: string, remote: string, o?: FleetUploadOptions) =>
          executor.upload(local, remote, o),
        uploadDirectory: (local: string) =>
          Promise.reject(
            new UsageError(
              `${label}: ${local} is a directory, and a directory does not travel through fleetsh workers yet: ` +
                'upload an archive of it, or upload without the nats option',
              { host: label },
            ),
          ),
      })) as FleetShell;
    };
    return sshConnect(factory)(rest, connectOptions);
  };
}

interface WorkerState {
  zone: string;
  seen: number;
  slots: number;
  free: number;
  intervalMs: number;
}

interface Session {
  nc: NatsConnection;
  coord: string;
  names: Names;
  js: ReturnType<ReturnType<typeof loadNats>['jetstream']['jetstream']>;
  jsm: Awaited<ReturnType<ReturnType<typeof loadNats>['jetstream']['jetstreamManager']>>;
  workers: Map<string, WorkerState>;
  /** When the connection to NATS was lost (undefined while connected). */
  lostAt: number | undefined;
  /** Zones that asked for a worker: waiters woken by the next heartbeat. */
  wake: Set<() => void>;
  /** The files stored on the files stream in this session, by local path, size and time (stored once for all hosts). */
  files: Map<string, Promise<StoredFile>>;
  stop(): Promise<void>;
}

/** A local file as stored on the files stream: where, how big, its SHA-256, in how many messages. */
interface StoredFile {
  file: string;
  size: number;
  sha256: string;
  chunks: number;
  mode: number;
}

type JobState = 'queued' | 'running' | 'ended';

interface Job {
  id: string;
  host: string;
  zone: string;
  state: JobState;
  worker?: string;
  seq?: number;
  /** Since when the zone has had no live worker while this job waited in the queue. */
  orphanSince?: number;
  onData: ExecRequest['onData'];
  settle(outcome: ExecOutcome | Error): void;
}

class Coordinator {
  readonly options: NatsFleetOptions;
  readonly names: Names;
  readonly workerWaitMs: number;
  readonly outageMs: number;
  readonly ackWaitMs: number;
  readonly jobs = new Map<string, Job>();
  #session: Promise<Session> | undefined;
  #idle: NodeJS.Timeout | undefined;
  /** Hosts between their session and their job (storing a file): the connection stays open for them. */
  #holds = 0;

  constructor(options: NatsFleetOptions) {
    if (typeof options !== 'object' || options === null)
      throw new UsageError('option nats: expected { servers, ... }');
    for (const k of Object.keys(options))
      if (!NATS_KEYS.has(k)) throw new UsageError(`unknown option nats.${k}`);
    serversOf(options.servers);
    checkFiles(options);
    if (options.zoneOf !== undefined && typeof options.zoneOf !== 'function')
      throw new UsageError('option nats.zoneOf: expected a function of the host name');
    this.options = options;
    this.names = namesFor(options.prefix);
    this.workerWaitMs = parseDuration(options.workerWait ?? '5s', 'nats.workerWait');
    this.outageMs = parseDuration(options.outageTimeout ?? '30s', 'nats.outageTimeout');
    this.ackWaitMs = parseDuration(options.ackWait ?? '30s', 'nats.ackWait');
  }

  session(): Promise<Session> {
    clearTimeout(this.#idle);
    if (!this.#session) {
      const opening = this.#open();
      this.#session = opening;
      opening.catch(() => {
        if (this.#session === opening) this.#session = undefined;
      });
    }
    return this.#session;
  }

  /** A job ended: with none left, the connection closes soon (a next run opens it again). */
  released(job: Job): void {
    this.jobs.delete(job.id);
    this.idle();
  }

  /** Keeps the connection open until the returned function is called (then idle() as usual). */
  hold(): () => void {
    this.#holds++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#holds--;
      this.idle();
    };
  }

  /** With no job in flight, the connection closes soon (also after a host failed before its job: no-worker). */
  idle(): void {
    if (this.jobs.size > 0 || this.#holds > 0 || !this.#session) return;
    const current = this.#session;
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      if (this.jobs.size > 0 || this.#holds > 0 || this.#session !== current) return;
      this.#session = undefined;
      void current.then((s) => s.stop()).catch(() => {});
    }, IDLE_CLOSE_MS);
  }

  async #open(): Promise<Session> {
    const { jetstream } = loadNats();
    const coord = randomBytes(8).toString('hex');
    const nc = await openNats(this.options, `fleetsh coordinator ${coord}`);
    try {
      const jsm = await jetstream.jetstreamManager(nc);
      await ensureStreams(jsm, this.names);
      const js = jetstream.jetstream(nc);
      const s: Session = {
        nc,
        coord,
        names: this.names,
        js,
        jsm,
        workers: new Map(),
        lostAt: undefined,
        wake: new Set(),
        files: new Map(),
        stop: async () => {},
      };
      nc.subscribe(this.names.heartbeatAll, {
        callback: (err, m) => {
          if (err) return;
          try {
            const hb = JSON.parse(m.string()) as Heartbeat;
            if (typeof hb.worker !== 'string' || typeof hb.zone !== 'string') return;
            s.workers.set(hb.worker, {
              zone: hb.zone,
              seen: Date.now(),
              slots: Number(hb.slots) || 0,
              free: Number(hb.free) || 0,
              intervalMs: Math.max(100, Number(hb.intervalMs) || 2000),
            });
            for (const w of [...s.wake]) w();
          } catch {
            // a malformed heartbeat is ignored: that worker just does not count
          }
        },
      });
      nc.subscribe(this.names.claim(coord), {
        callback: (err, m) => {
          if (err) return;
          let answer: ClaimAnswer = { go: 'drop' };
          try {
            answer = this.#claim(JSON.parse(m.string()) as ClaimRequest);
          } catch {
            // a malformed claim is dropped
          }
          m.respond(json(answer));
        },
      });
      // The events of this coordinator, each once, in order. After a reconnect the consumer is made
      // again from the next sequence at once: the client's own recovery waits for missed heartbeats
      // (about 45 s, measured across a nats-server restart).
      const { DeliverPolicy } = jetstream;
      let lastSeq = 0;
      let messages: Awaited<ReturnType<Awaited<ReturnType<typeof js.consumers.get>>['consume']>> | undefined;
      const follow = async (): Promise<void> => {
        const consumer = await js.consumers.get(this.names.eventStream, {
          filter_subjects: this.names.eventFilter(coord), // one subject: nats-server 2.9 takes no list
          ...(lastSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 } : {}),
        });
        const mine = await consumer.consume();
        messages = mine;
        void (async () => {
          for await (const m of mine) {
            if (m.seq <= lastSeq) continue;
            lastSeq = m.seq;
            this.#eventOrFail(m.subject, m.data);
          }
        })().catch(() => {});
      };
      await follow();
      const refollow = (): void => {
        const old = messages;
        void old?.close().catch(() => {});
        follow().catch(() => {
          if (!stopped && !nc.isClosed()) setTimeout(refollow, 500);
        });
      };
      let stopped = false;
      const tick = setInterval(() => this.#tick(s), TICK_MS);
      void (async () => {
        for await (const st of nc.status()) {
          if (st.type === 'disconnect') s.lostAt ??= Date.now();
          else if (st.type === 'reconnect') {
            s.lostAt = undefined;
            // Heartbeats missed during the outage say nothing about the workers.
            const now = Date.now();
            for (const w of s.workers.values()) w.seen = now;
            nc.publish(this.names.ping);
            refollow();
          }
        }
      })().catch(() => {});
      s.stop = async () => {
        if (stopped) return;
        stopped = true;
        clearInterval(tick);
        await messages?.close().catch(() => {});
        // What the workers sent back for this coordinator is read: it goes.
        await jsm.streams
          .purge(this.names.eventStream, { filter: this.names.eventFilter(coord) })
          .catch(() => {});
        // And the files this session copied: the run that needed them is over.
        await jsm.streams
          .purge(this.names.fileStream, { filter: this.names.fileFilter(coord) })
          .catch(() => {});
        await nc.close().catch(() => {});
      };
      nc.publish(this.names.ping);
      return s;
    } catch (e) {
      await nc.close().catch(() => {});
      throw e;
    }
  }

  /** A worker asks to start a job: yes once, for a job still waiting; no for anything else. */
  #claim(c: ClaimRequest): ClaimAnswer {
    const job = this.jobs.get(String(c.job));
    if (!job || job.state !== 'queued') return { go: 'drop' };
    job.state = 'running';
    job.worker = String(c.worker);
    return { go: 'run' };
  }

  /** A malformed event (a broken or hostile worker) fails its host; the others' events go on. */
  #eventOrFail(subject: string, data: Uint8Array): void {
    try {
      this.#event(subject, data);
    } catch (e) {
      const job = this.jobs.get(subject.slice(subject.lastIndexOf('.') + 1));
      job?.settle(
        new ConnectionError(
          'protocol',
          job.host,
          `worker ${job.worker} sent a malformed event: ${(e as Error).message}`,
          {
            stage: 'connected',
          },
        ),
      );
    }
  }

  #event(subject: string, data: Uint8Array): void {
    const id = subject.slice(subject.lastIndexOf('.') + 1);
    const job = this.jobs.get(id);
    if (!job || job.state === 'ended' || data.length === 0) return;
    const body = Buffer.from(data.buffer, data.byteOffset + 1, data.length - 1);
    switch (data[0]) {
      case EVENT.stdout:
        return job.onData('stdout', Buffer.from(body));
      case EVENT.stderr:
        return job.onData('stderr', Buffer.from(body));
      case EVENT.done: {
        const d = JSON.parse(body.toString('utf8')) as DoneBody;
        const outcome: ExecOutcome = {
          exitCode: typeof d.exitCode === 'number' ? d.exitCode : null,
          signal: typeof d.signal === 'string' ? d.signal : null,
        };
        if (d.sudo) {
          const facts = d.sudo;
          outcome.failure = (result) => new SudoError(result, facts);
        }
        return job.settle(outcome);
      }
      case EVENT.error:
        return job.settle(fromWire((JSON.parse(body.toString('utf8')) as ErrorBody).error));
    }
  }

  #tick(s: Session): void {
    const now = Date.now();
    if (s.lostAt !== undefined) {
      if (now - s.lostAt < this.outageMs) return;
      for (const job of [...this.jobs.values()])
        job.settle(
          new ConnectionError(
            'closed',
            job.host,
            `the NATS server was out of reach for ${formatMs(this.outageMs)} (option nats.outageTimeout)` +
              (job.state === 'running'
                ? `; worker ${job.worker} was running this host's command: whether it ended is unknown`
                : '; its command had not started'),
            { hint: `Check the NATS server (${serversOf(this.options.servers).map(shown).join(', ')}).` },
          ),
        );
      return;
    }
    for (const job of [...this.jobs.values()]) {
      if (job.state === 'running' && job.worker && !this.#alive(s, job.worker, now)) {
        job.settle(
          new FleetshError(
            'cancelled',
            `${job.host}: interrupted: worker ${job.worker} stopped heartbeating while this host ran; ` +
              'its outcome is unknown (fleetsh resume decides)',
            { host: job.host },
          ),
        );
      } else if (job.state === 'queued') {
        if (this.liveIn(s, job.zone, now)) job.orphanSince = undefined;
        else if ((job.orphanSince ??= now) + this.workerWaitMs <= now) void this.#withdraw(s, job);
      }
    }
  }

  /** A queued job whose zone lost its workers: out of the queue, and the host unreachable. */
  async #withdraw(s: Session, job: Job): Promise<void> {
    job.orphanSince = Number.POSITIVE_INFINITY; // once
    if (job.seq !== undefined) {
      const gone = await s.jsm.streams.deleteMessage(this.names.jobStream, job.seq, false).catch(() => false);
      if (!gone && job.state !== 'queued') return; // a worker took it meanwhile
    }
    if (job.state === 'queued') job.settle(noWorker(job.host, job.zone, this.workerWaitMs));
  }

  #alive(s: Session, worker: string, now: number): boolean {
    const w = s.workers.get(worker);
    return w !== undefined && now - w.seen < Math.max(MIN_DEAD_MS, MISSED_BEATS * w.intervalMs);
  }

  /**
   * The local file on the files stream, stored once per session for every host (a file changed since,
   * by size or time, is stored again). Bounded: a file over FILE_LIMIT is refused.
   */
  async storeFile(s: Session, local: string, host: string): Promise<StoredFile> {
    const st = await stat(local).catch((e: unknown) => {
      throw new UsageError(`${host}: upload: ${local}: ${describeIoError(e)}`, { host });
    });
    if (!st.isFile())
      throw new UsageError(
        `${host}: upload through fleetsh workers: ${local} is not a regular file (a directory does not travel through NATS yet)`,
        { host },
      );
    if (st.size > FILE_LIMIT) throw fileTooBig(host, local, st.size);
    const key = `${local}\0${st.size}\0${st.mtimeMs}`;
    let stored = s.files.get(key);
    if (!stored) {
      stored = this.#storeFile(s, local, host, st.mode & 0o7777);
      s.files.set(key, stored);
      stored.catch(() => s.files.delete(key));
    }
    return stored;
  }

  async #storeFile(s: Session, local: string, host: string, mode: number): Promise<StoredFile> {
    const file = randomBytes(8).toString('hex');
    const subject = this.names.fileSubject(s.coord, file);
    const hash = createHash('sha256');
    let size = 0;
    let chunks = 0;
    const fh = await open(local, 'r');
    try {
      for (;;) {
        const buf = Buffer.allocUnsafe(FILE_CHUNK);
        const { bytesRead } = await fh.read(buf, 0, FILE_CHUNK, null);
        if (bytesRead === 0) break;
        size += bytesRead;
        if (size > FILE_LIMIT) throw fileTooBig(host, local, size); // it grew while read
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        // One at a time, each stored before the next: the chunks are in order on their subject.
        await s.js.publish(subject, chunk, { timeout: this.outageMs });
        chunks++;
      }
    } catch (e) {
      await s.jsm.streams.purge(this.names.fileStream, { filter: subject }).catch(() => {});
      throw e;
    } finally {
      await fh.close();
    }
    return { file, size, sha256: hash.digest('hex'), chunks, mode };
  }

  liveIn(s: Session, zone: string, now = Date.now()): boolean {
    for (const [id, w] of s.workers) if (w.zone === zone && this.#alive(s, id, now)) return true;
    return false;
  }

  /** Resolves once a worker of `zone` is alive; false after workerWait. */
  async waitForZone(s: Session, zone: string, signal: AbortSignal): Promise<boolean> {
    const until = Date.now() + this.workerWaitMs;
    while (!this.liveIn(s, zone)) {
      const left = until - Date.now();
      if (left <= 0) return false;
      let wake = () => {};
      const woken = new Promise<void>((r) => (wake = r));
      s.wake.add(wake);
      try {
        await abortable(Promise.race([woken, sleep(Math.min(left, TICK_MS))]), signal);
      } finally {
        s.wake.delete(wake);
      }
    }
    return true;
  }
}

function fileTooBig(host: string, local: string, size: number): UsageError {
  return new UsageError(
    `${host}: ${local} is ${size} bytes, over the ${FILE_LIMIT / (1024 * 1024)} MiB a copy through fleetsh workers ` +
      'carries (the file is stored on the NATS server while it is copied): upload it without the nats option, from a machine that reaches the hosts',
    { host },
  );
}

function noWorker(host: string, zone: string, waitMs: number): ConnectionError {
  return new ConnectionError(
    'no-worker',
    host,
    `no fleetsh worker of zone ${JSON.stringify(zone)} heartbeated within ${formatMs(waitMs)}`,
    { hint: `Start one where this host is reachable: fleetsh worker --nats URL --zone ${zone}` },
  );
}

/** One host's commands, each a job for a worker of its zone. */
class NatsExecutor implements Executor {
  readonly host: string;
  readonly #coordinator: Coordinator;
  readonly #target: unknown;
  readonly #zone: string;

  constructor(coordinator: Coordinator, host: string, target: unknown, zone: string) {
    this.#coordinator = coordinator;
    this.host = host;
    this.#target = target;
    this.#zone = zone;
  }

  /** The target as a job carries it; one holding a secret is refused. */
  #jobTarget(): Record<string, unknown> {
    const t = jobTarget(this.#target);
    if ('refused' in t)
      throw new UsageError(
        `${this.host}: its settings hold a ${t.refused}, which is never sent to a fleetsh worker: ` +
          'give the worker its own key or agent, or run this host without --nats',
        { host: this.host },
      );
    return t.target;
  }

  /** The session, once a worker of this host's zone is alive (else the host is unreachable: no-worker). */
  async #ready(signal: AbortSignal): Promise<Session> {
    const c = this.#coordinator;
    let s: Session;
    try {
      s = await abortable(c.session(), signal);
    } catch (e) {
      if (signal.aborted) {
        c.idle(); // the connection still opening closes once open, unless another host uses it
        throw e;
      }
      throw new ConnectionError('refused', this.host, (e as Error).message, {
        cause: e,
        stage: 'tcp',
        hint: 'Check --nats (the NATS server URL), --nats-creds and the TLS files.',
      });
    }
    if (!(await c.waitForZone(s, this.#zone, signal).catch(() => true)) && !signal.aborted) {
      c.idle();
      throw noWorker(this.host, this.#zone, c.workerWaitMs);
    }
    return s;
  }

  /**
   * One file to this host through a worker: the file is stored once on the files stream for every
   * host of the session, the job names it, and the worker checks its size and SHA-256 before it
   * uploads it with its own SSH. The fleet's `beforeReplace` (its only use: the check of the written
   * copy's SHA-256 against this file's, src/fleet/files.ts) runs on the worker as that same check.
   */
  async upload(
    local: string,
    remote: string,
    o: FleetUploadOptions = {},
  ): Promise<{ files: number; bytes: number }> {
    const c = this.#coordinator;
    const signal = o.signal ?? new AbortController().signal;
    const target = this.#jobTarget();
    const release = c.hold();
    try {
      const s = await this.#ready(signal);
      const f = await abortable(c.storeFile(s, local, this.host), signal).catch((e: unknown) => {
        if (e instanceof UsageError || signal.aborted) throw e;
        throw new TransferError(
          'failed',
          this.host,
          `upload of ${local} to ${remote} failed: the file could not be stored on NATS: ${(e as Error).message}`,
          local,
          remote,
          { cause: e },
        );
      });
      const mode = o.mode === 'preserve' ? f.mode : o.mode;
      const upload: UploadJob = {
        file: f.file,
        size: f.size,
        sha256: f.sha256,
        chunks: f.chunks,
        remote,
        ...(mode !== undefined ? { mode } : {}),
        mkdirs: o.mkdirs === true,
        atomic: o.atomic !== false,
        check: o.beforeReplace !== undefined,
      };
      const outcome = await this.#submit(s, { target, command: '', upload }, signal, () => {});
      if (outcome.exitCode !== 0)
        throw new TransferError(
          'cancelled',
          this.host,
          `upload of ${local} to ${remote} was cancelled`,
          local,
          remote,
        );
      return { files: 1, bytes: f.size };
    } finally {
      release();
    }
  }

  async exec(req: ExecRequest): Promise<ExecOutcome> {
    const target = this.#jobTarget();
    if (req.sudo?.password !== undefined)
      throw new UsageError(
        `${this.host}: a sudo password is never sent to a fleetsh worker: ` +
          'use passwordless sudo on the hosts, or run without --nats',
        { host: this.host },
      );
    const stdin = req.stdin === undefined ? undefined : await readInput(req.stdin, this.host, req.signal);
    const s = await this.#ready(req.signal);
    return this.#submit(
      s,
      {
        target,
        command: req.command,
        ...(req.env ? { env: req.env } : {}),
        ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
        ...(req.pty ? { pty: req.pty } : {}),
        ...(req.sudo ? { sudo: { user: req.sudo.user } } : {}),
        ...(stdin ? { stdin: stdin.toString('base64') } : {}),
      },
      req.signal,
      req.onData,
    );
  }

  /** Queues one job for this host's zone; settles with its end (or the failure that ended it). */
  #submit(
    s: Session,
    body: Omit<JobMessage, 'v' | 'coord' | 'job' | 'host'>,
    signal: AbortSignal,
    onData: ExecRequest['onData'],
  ): Promise<ExecOutcome> {
    const c = this.#coordinator;
    const id = randomBytes(8).toString('hex');
    const message: JobMessage = { v: WIRE_VERSION, coord: s.coord, job: id, host: this.host, ...body };
    const req = { signal, onData };
    return new Promise<ExecOutcome>((resolve, reject) => {
      let killTimer: NodeJS.Timeout | undefined;
      const job: Job = {
        id,
        host: this.host,
        zone: this.#zone,
        state: 'queued',
        onData: req.onData,
        settle: (end) => {
          if (job.state === 'ended') return;
          job.state = 'ended';
          clearTimeout(killTimer);
          req.signal.removeEventListener('abort', onAbort);
          c.released(job);
          if (end instanceof Error) reject(end);
          else resolve(end);
        },
      };
      const onAbort = () => {
        const { signal, graceMs } = killRequestOf(req.signal);
        if (job.state === 'queued') {
          // Not started anywhere: it leaves the queue (a worker that pulls it meanwhile is told no).
          if (job.seq !== undefined)
            void s.jsm.streams.deleteMessage(c.names.jobStream, job.seq, false).catch(() => {});
          job.settle({ exitCode: null, signal });
          return;
        }
        const body: CancelBody = { signal, graceMs };
        s.nc.publish(c.names.cancel(s.coord, id), json(body));
        killTimer = setTimeout(
          () =>
            job.settle(
              new ConnectionError(
                'closed',
                this.host,
                `worker ${job.worker} did not say the command ended within ${formatMs(graceMs + KILL_ANSWER_MS)} of a kill`,
                { stage: 'connected' },
              ),
            ),
          graceMs + KILL_ANSWER_MS,
        );
      };
      c.jobs.set(id, job);
      if (req.signal.aborted) return onAbort();
      req.signal.addEventListener('abort', onAbort, { once: true });
      s.js.publish(c.names.jobSubject(this.#zone), json(message), { msgID: id, timeout: c.outageMs }).then(
        (ack) => {
          job.seq = ack.seq;
        },
        (e: unknown) =>
          job.settle(
            new ConnectionError(
              'closed',
              this.host,
              `the job could not be queued on NATS: ${(e as Error).message}`,
              {
                cause: e,
              },
            ),
          ),
      );
    });
  }
}

/** A command's input, whole (a job is one message): at most STDIN_LIMIT bytes. */
async function readInput(
  input: NonNullable<ExecRequest['stdin']>,
  host: string,
  signal: AbortSignal,
): Promise<Buffer> {
  const tooBig = () =>
    new UsageError(
      `${host}: the command's input is over ${STDIN_LIMIT / 1024} KiB, the most a job through NATS carries: ` +
        'copy the data to the hosts first, or run without --nats',
      { host },
    );
  if (!(input instanceof Readable)) {
    const b = Buffer.from(input);
    if (b.length > STDIN_LIMIT) throw tooBig();
    return b;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const read = (async () => {
    for await (const chunk of input) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      size += b.length;
      if (size > STDIN_LIMIT) {
        input.destroy();
        throw tooBig();
      }
      chunks.push(b);
    }
  })();
  await abortable(read, signal);
  return Buffer.concat(chunks);
}
