// A fleetsh worker: pulls its zone's jobs from the NATS work queue and runs each over SSH from this
// machine, with this machine's keys, agent and ssh_config (they never travel). A job runs only once
// its coordinator says so (a claim), its output and end go to the events stream, and the job is
// acknowledged only once its end is stored, so a worker that dies mid-job leaves the job to the
// coordinator's interrupted-host policy instead of to a silent second run. It heartbeats its zone
// and free slots; a kill from the coordinator kills the remote command (through the SSH executor,
// which ends the remote process). NATS does the queueing, storage and redelivery; no library runs
// fleet commands from a queue, so this file does.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsMsg } from '@nats-io/jetstream';
import { toWire } from '../agent/wire-error.js';
import { sleep } from '../process/abort.js';
import { parseDuration, type Duration } from '../process/duration.js';
import { SudoError, UsageError } from '../process/errors.js';
import { ptyOf } from '../process/exec-options.js';
import { KillRequest, type ExecOutcome } from '../process/executor.js';
import { CommandResult } from '../process/result.js';
import { resolveTarget } from '../ssh/resolve.js';
import { SshPool } from '../ssh/pool.js';
import { SshExecutor } from '../ssh/ssh-executor.js';
import { makeTransfers, TransferError } from '../ssh/sftp.js';
import { quote } from '../command/quote.js';
import type { ResolvedTarget, SshTargetOptions } from '../ssh/types.js';
import { checkFiles, loadNats, openNats, type NatsConnection, type NatsConnectionOptions } from './nats.js';
import { ensureStreams, ensureZoneConsumer } from './streams.js';
import {
  checkToken,
  DEFAULT_ZONE,
  EVENT,
  event,
  json,
  namesFor,
  parseJob,
  type CancelBody,
  type ClaimAnswer,
  type DoneBody,
  type Heartbeat,
  type JobMessage,
  type UploadJob,
} from './wire.js';

export interface WorkerOptions extends NatsConnectionOptions {
  /** The zone whose jobs this worker runs (default 'default'). */
  zone?: string;
  /** Jobs at once (default 32). */
  concurrency?: number;
  /** Subjects and streams start with this (default 'fleetsh'); the coordinator's must match. */
  prefix?: string;
  /** How often the worker says it is alive (default 2 s); the coordinator waits five of these. */
  heartbeat?: Duration;
  /** The work queue's ack wait, as the coordinator sets it (default 30 s). */
  ackWait?: Duration;
  /** How long the NATS server may be out of reach before a finished job's end is given up (default 60 s). */
  outageTimeout?: Duration;
  /** The SSH pool (default: one of its own). */
  pool?: SshPool;
  /** One line per job and per problem (default: none). */
  log?: (line: string) => void;
}

export interface Worker {
  readonly id: string;
  readonly zone: string;
  /** Jobs running now. */
  readonly running: number;
  /** Stops taking jobs, kills those running (their ends are still sent), closes. */
  stop(): Promise<void>;
  /** Settles when the worker stopped (after stop(), or when its connection closed for good). */
  readonly closed: Promise<void>;
}

/** A pull that found nothing ends after this long, and the next begins (so stop() is quick). */
const PULL_EXPIRES_MS = 5000;
const CLAIM_TIMEOUT_MS = 5000;
/** Output is sent in pieces of at most this (NATS's max_payload is 1 MiB by default). */
const CHUNK = 64 * 1024;

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const zone = checkToken(options.zone ?? DEFAULT_ZONE, 'worker zone');
  const slots = options.concurrency ?? 32;
  if (!Number.isInteger(slots) || slots < 1)
    throw new UsageError(
      `worker concurrency: expected a whole number ≥ 1, got ${String(options.concurrency)}`,
    );
  const names = namesFor(options.prefix);
  const heartbeatMs = parseDuration(options.heartbeat ?? '2s', 'worker heartbeat');
  const ackWaitMs = parseDuration(options.ackWait ?? '30s', 'worker ackWait');
  const outageMs = parseDuration(options.outageTimeout ?? '60s', 'worker outageTimeout');
  const log = options.log ?? (() => {});
  checkFiles(options);
  const id = `${hostname()
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const { jetstream, transport } = loadNats();
  const nc: NatsConnection = await openNats(options, `fleetsh worker ${id}`);
  const jsm = await jetstream.jetstreamManager(nc);
  await ensureStreams(jsm, names);
  await ensureZoneConsumer(jsm, names, zone, ackWaitMs);
  const js = jetstream.jetstream(nc);
  const pool = options.pool ?? new SshPool();
  const running = new Map<string, AbortController>();
  let stopping = false;

  const beat = () => {
    if (nc.isClosed()) return;
    const hb: Heartbeat = { worker: id, zone, slots, free: slots - running.size, intervalMs: heartbeatMs };
    nc.publish(names.heartbeat(zone, id), json(hb));
  };
  const beating = setInterval(beat, heartbeatMs);
  nc.subscribe(names.ping, {
    callback: (err) => {
      if (!err) beat();
    },
  });
  nc.subscribe(names.cancelAll, {
    callback: (err, m) => {
      if (err) return;
      const [, , coord, job] = m.subject.split('.');
      const controller = running.get(`${coord}.${job}`);
      if (!controller) return;
      try {
        const c = JSON.parse(m.string()) as CancelBody;
        controller.abort(new KillRequest(c.signal as NodeJS.Signals, Number(c.graceMs) || 2000));
      } catch {
        controller.abort(new KillRequest());
      }
    },
  });
  beat();

  /** Asks the coordinator; 'gone' when nobody answers (it stopped: the job is dropped for good). */
  const claim = async (job: JobMessage, delivery: number): Promise<ClaimAnswer['go'] | 'gone'> => {
    const until = Date.now() + outageMs;
    for (;;) {
      try {
        const reply = await nc.request(names.claim(job.coord), json({ job: job.job, worker: id, delivery }), {
          timeout: CLAIM_TIMEOUT_MS,
        });
        return (JSON.parse(reply.string()) as ClaimAnswer).go === 'run' ? 'run' : 'drop';
      } catch (e) {
        const noResponders =
          e instanceof transport.NoRespondersError ||
          (e instanceof transport.RequestError && e.isNoResponders());
        if (noResponders) return 'gone';
        if (Date.now() > until || stopping) throw e;
        await sleep(500);
      }
    }
  };

  /** Stored in the events stream: retried through an outage, up to outageTimeout. */
  const store = async (subject: string, data: Uint8Array): Promise<void> => {
    const until = Date.now() + outageMs;
    for (;;) {
      try {
        await js.publish(subject, data, { timeout: 5000 });
        return;
      } catch (e) {
        if (Date.now() > until) throw e;
        await sleep(500);
      }
    }
  };

  const resolved = new Map<string, { at: number; promise: Promise<ResolvedTarget> }>();
  const executorFor = (job: JobMessage): SshExecutor => {
    const key = JSON.stringify(job.target);
    let hit = resolved.get(key);
    if (!hit || Date.now() - hit.at > 5000) {
      if (resolved.size > 10_000) resolved.clear();
      hit = { at: Date.now(), promise: resolveTarget(job.target as unknown as SshTargetOptions, {}) };
      hit.promise.catch(() => resolved.delete(key));
      resolved.set(key, hit);
    }
    const promise = hit.promise;
    return new SshExecutor(job.host, { pool, resolve: () => promise });
  };

  /**
   * A file of an upload job, read from the files stream into a private temporary folder and checked
   * (size, SHA-256) before any host gets it; shared by this worker's jobs for the same file, removed
   * when the last of them ends.
   */
  const files = new Map<string, { users: number; path: Promise<string>; dir: Promise<string> }>();
  const fetches = new AbortController();
  const fetchFile = async (
    coord: string,
    up: UploadJob,
    dir: string,
    signal: AbortSignal,
  ): Promise<string> => {
    const path = join(dir, 'file');
    const fh = await open(path, 'wx', 0o600);
    const hash = createHash('sha256');
    let size = 0;
    let got = 0;
    try {
      if (up.chunks > 0) {
        const consumer = await js.consumers.get(names.fileStream, {
          filter_subjects: names.fileSubject(coord, up.file),
        });
        // At most 16 messages (4 MiB) buffered ahead of the disk.
        const messages = await consumer.consume({ max_messages: 16 });
        // Bounded: a file purged meanwhile (its run ended) or a stalled server ends the wait.
        let idle: NodeJS.Timeout | undefined;
        const stall = () => {
          clearTimeout(idle);
          idle = setTimeout(() => void messages.close(), outageMs);
        };
        const onAbort = () => void messages.close();
        signal.addEventListener('abort', onAbort, { once: true });
        stall();
        try {
          for await (const m of messages) {
            stall();
            size += m.data.length;
            if (size > up.size) break;
            hash.update(m.data);
            await fh.write(m.data);
            if (++got === up.chunks) break;
          }
        } finally {
          clearTimeout(idle);
          signal.removeEventListener('abort', onAbort);
          await messages.close().catch(() => {});
        }
      }
    } finally {
      await fh.close();
    }
    if (signal.aborted) throw new Error('the worker stopped while it read the file');
    if (got !== up.chunks || size !== up.size)
      throw new Error(
        `the file on NATS is incomplete (${size} of ${up.size} bytes, ${got} of ${up.chunks} messages): ` +
          'its run may have ended, or the NATS server lost it',
      );
    const sha = hash.digest('hex');
    if (sha !== up.sha256)
      throw new Error(`the file read from NATS has SHA-256 ${sha}, not ${up.sha256}: it was not copied`);
    return path;
  };

  const runUpload = async (job: JobMessage, up: UploadJob, signal: AbortSignal): Promise<void> => {
    const key = `${job.coord}.${up.file}`;
    let entry = files.get(key);
    if (!entry) {
      const dir = mkdtemp(join(tmpdir(), 'fleetsh-worker-'));
      // The first job's signal does not stop the others' fetch: a file fetch is the worker's, ended by stop().
      const path = dir.then((d) => fetchFile(job.coord, up, d, fetches.signal));
      entry = { users: 0, path, dir };
      files.set(key, entry);
    }
    entry.users++;
    try {
      const local = await entry.path.catch((e: unknown) => {
        throw new TransferError(
          'failed',
          job.host,
          `upload to ${up.remote} failed on worker ${id}: ${(e as Error).message}`,
          up.file,
          up.remote,
          { cause: e },
        );
      });
      const executor = executorFor(job);
      await makeTransfers(executor).uploadFile(local, up.remote, {
        ...(up.mode !== undefined ? { mode: up.mode } : {}),
        mkdirs: up.mkdirs === true,
        atomic: up.atomic !== false,
        signal,
        ...(up.check
          ? { beforeReplace: (written: string) => checkWritten(executor, job, up, written, signal) }
          : {}),
      });
    } finally {
      if (--entry.users === 0) {
        files.delete(key);
        void entry.dir.then((d) => rm(d, { recursive: true, force: true })).catch(() => {});
      }
    }
  };

  const runJob = async (m: JsMsg): Promise<void> => {
    let job: JobMessage;
    try {
      job = parseJob(m.data);
    } catch (e) {
      log(`dropped a malformed job: ${(e as Error).message}`);
      m.term();
      return;
    }
    const key = `${job.coord}.${job.job}`;
    const controller = new AbortController();
    running.set(key, controller);
    const working = setInterval(() => m.working(), Math.max(100, ackWaitMs / 3));
    try {
      const go = await claim(job, m.info.deliveryCount);
      if (go === 'gone') {
        log(`${job.host}: dropped: its coordinator ${job.coord} is gone`);
        m.term();
        return;
      }
      if (go === 'drop') {
        await m.ackAck().catch(() => {});
        return;
      }
      log(`${job.host}: running for ${job.coord}`);
      const subject = names.eventSubject(job.coord, job.job);
      let end: Uint8Array;
      try {
        const outcome: ExecOutcome = job.upload
          ? await runUpload(job, job.upload, controller.signal).then(() => ({ exitCode: 0, signal: null }))
          : await executorFor(job).exec({
              command: job.command,
              env: job.env,
              cwd: job.cwd,
              pty: ptyOf(job.pty),
              sudo: job.sudo
                ? { user: typeof job.sudo.user === 'string' ? job.sudo.user : undefined }
                : undefined,
              stdin: job.stdin === undefined ? undefined : Buffer.from(job.stdin, 'base64'),
              signal: controller.signal,
              onData: (stream, chunk) => {
                const type = stream === 'stderr' ? EVENT.stderr : EVENT.stdout;
                for (let at = 0; at < chunk.length; at += CHUNK)
                  nc.publish(subject, event(type, chunk.subarray(at, at + CHUNK)));
              },
            });
        end = event(EVENT.done, json(doneBody(outcome, job)));
      } catch (e) {
        end = event(EVENT.error, json({ error: toWire(e) }));
      }
      // Published on the same connection after the output, so stored after it: once this is
      // acknowledged, the whole result is in the stream, and the job can go.
      await store(subject, end);
      await m.ackAck().catch(() => {});
    } catch (e) {
      log(`${job.host}: ${(e as Error).message}`);
    } finally {
      clearInterval(working);
      running.delete(key);
    }
  };

  const consumer = await js.consumers.get(names.jobStream, names.jobConsumer(zone));
  // One pull at a time, for as many jobs as there are free slots: an idle worker costs one pull
  // per PULL_EXPIRES_MS, and no job waits here while another worker has a free slot (a pull per
  // slot cost ~90 messages a second for two idle workers of 32 slots: bench/scale-out.ts).
  let slotFreed = () => {};
  let batch: Awaited<ReturnType<typeof consumer.fetch>> | undefined;
  const jobs = new Set<Promise<void>>();
  const pulling = (async () => {
    while (!stopping && !nc.isClosed()) {
      const free = slots - running.size;
      if (free <= 0) {
        await new Promise<void>((r) => (slotFreed = r));
        continue;
      }
      try {
        batch = await consumer.fetch({ max_messages: free, expires: PULL_EXPIRES_MS });
        for await (const m of batch) {
          if (stopping) {
            m.nak();
            continue;
          }
          const job = runJob(m).finally(() => {
            jobs.delete(job);
            slotFreed();
          });
          jobs.add(job);
        }
      } catch (e) {
        if (stopping || nc.isClosed()) break;
        log(`pull: ${(e as Error).message}`);
        await sleep(500);
      }
    }
  })();
  const loops = [pulling];

  let closedResolve = () => {};
  const closed = new Promise<void>((r) => (closedResolve = r));
  void nc.closed().then(() => {
    stopping = true;
    clearInterval(beating);
    closedResolve();
  });
  let stopped: Promise<void> | undefined;
  return {
    id,
    zone,
    get running() {
      return running.size;
    },
    closed,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        clearInterval(beating);
        for (const c of running.values()) c.abort(new KillRequest());
        fetches.abort();
        slotFreed();
        await batch?.close().catch(() => {});
        await Promise.all(loops);
        await Promise.all(jobs);
        await nc.drain().catch(() => {});
        if (!options.pool) pool.close();
        await closed;
      })()),
  };
}

/** The written copy's SHA-256, computed on the host, must be the file's: else it does not replace the destination. */
async function checkWritten(
  executor: SshExecutor,
  job: JobMessage,
  up: UploadJob,
  written: string,
  signal: AbortSignal,
): Promise<void> {
  const p = quote(written);
  let out = '';
  await executor.exec({
    command: `sum=$(sha256sum -- ${p} 2>/dev/null || shasum -a 256 -- ${p} 2>/dev/null); echo "\${sum%% *}"`,
    signal,
    onData: (stream, chunk) => {
      if (stream === 'stdout' && out.length < 200) out += chunk.toString('utf8');
    },
  });
  const got = out.trim();
  if (got !== up.sha256)
    throw new TransferError(
      'failed',
      job.host,
      `upload of ${up.remote} failed its checksum: the written copy has SHA-256 ${got || '(none: no sha256sum or shasum on the host)'}, ` +
        `not ${up.sha256}; the file was not replaced`,
      up.file,
      up.remote,
    );
}

function doneBody(outcome: ExecOutcome, job: JobMessage): DoneBody {
  const body: DoneBody = { exitCode: outcome.exitCode, signal: outcome.signal };
  if (outcome.failure) {
    const probe = new CommandResult({
      host: job.host,
      command: job.command,
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      stdoutBuffer: Buffer.alloc(0),
      stderrBuffer: Buffer.alloc(0),
      stdoutTruncated: false,
      stderrTruncated: false,
      stderrTail: '',
      durationMs: 0,
    });
    const e = outcome.failure(probe);
    if (e instanceof SudoError)
      body.sudo = { reason: e.reason, user: e.user, passwordGiven: false, pty: job.pty !== undefined };
  }
  return body;
}
