// What crosses NATS between a coordinator and its workers: the subjects and streams under one
// prefix, and the messages on them (JSON, checked on receipt: a message is untrusted input). The
// layout and why it is so are in docs/scale-out.md. Hand-written: the messages are fleetsh's own
// (a host command and its end), which no library defines.
import { UsageError } from '../process/errors.js';
import { isEnvName } from '../process/env.js';
import type { WireError } from '../agent/wire-error.js';
import type { SudoFailureFacts } from '../process/errors.js';

export const WIRE_VERSION = 1;

/** A zone or a prefix: one subject token (no dots, spaces or wildcards), and a stream name part. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

export function checkToken(value: unknown, what: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value))
    throw new UsageError(`${what}: expected 1 to 64 letters, digits, _ or -, got ${JSON.stringify(value)}`);
  return value;
}

export const DEFAULT_PREFIX = 'fleetsh';
export const DEFAULT_ZONE = 'default';

/** Every subject and stream name of one prefix (one per NATS account or team). */
export interface Names {
  /** The work-queue stream of jobs, and its subjects `P.job.ZONE`. */
  jobStream: string;
  jobSubject(zone: string): string;
  /** The durable pull consumer every worker of a zone shares. */
  jobConsumer(zone: string): string;
  /** The stream of what workers send back (output, ends), subjects `P.ev.COORD.JOB`. */
  eventStream: string;
  eventSubject(coord: string, job: string): string;
  eventFilter(coord: string): string;
  /** Request/reply: a worker asks the coordinator before it starts a job. */
  claim(coord: string): string;
  /** A coordinator's kill of a job in flight; workers listen on all of them. */
  cancel(coord: string, job: string): string;
  cancelAll: string;
  heartbeat(zone: string, worker: string): string;
  heartbeatAll: string;
  /** A coordinator asks every worker to heartbeat now. */
  ping: string;
  /** The stream of files being copied, subjects `P.file.COORD.FILE` (a file's chunks, in order). */
  fileStream: string;
  fileSubject(coord: string, file: string): string;
  fileFilter(coord: string): string;
}

export function namesFor(prefix = DEFAULT_PREFIX): Names {
  const p = checkToken(prefix, 'nats prefix');
  return {
    jobStream: `${p}-jobs`,
    jobSubject: (zone) => `${p}.job.${zone}`,
    jobConsumer: (zone) => `jobs-${zone}`,
    eventStream: `${p}-events`,
    eventSubject: (coord, job) => `${p}.ev.${coord}.${job}`,
    eventFilter: (coord) => `${p}.ev.${coord}.>`,
    claim: (coord) => `${p}.claim.${coord}`,
    cancel: (coord, job) => `${p}.cancel.${coord}.${job}`,
    cancelAll: `${p}.cancel.>`,
    heartbeat: (zone, worker) => `${p}.hb.${zone}.${worker}`,
    heartbeatAll: `${p}.hb.>`,
    ping: `${p}.ping`,
    fileStream: `${p}-files`,
    fileSubject: (coord, file) => `${p}.file.${coord}.${file}`,
    fileFilter: (coord) => `${p}.file.${coord}.>`,
  };
}

/**
 * One host's upload: the file's bytes are on the files stream (`file`, in `chunks` messages), the
 * worker checks their size and SHA-256 before it puts them on the host with its own SSH.
 */
export interface UploadJob {
  file: string;
  size: number;
  sha256: string;
  chunks: number;
  remote: string;
  mode?: number;
  mkdirs?: boolean;
  atomic?: boolean;
  /** Check the written copy's SHA-256 on the host before it replaces `remote` (the fleet's `verify`). */
  check?: boolean;
}

/** A file over this is refused for --nats (docs/scale-out.md: it is stored on the NATS server while copied). */
export const FILE_LIMIT = 64 * 1024 * 1024;
/** A file travels in messages of this size (NATS's max_payload is 1 MiB by default). */
export const FILE_CHUNK = 256 * 1024;

/** One host's command or upload, as a worker gets it. It carries no password, passphrase or key text. */
export interface JobMessage {
  v: number;
  coord: string;
  job: string;
  /** The host as errors name it (the coordinator's label for the target). */
  host: string;
  /** SSH target options as `$.ssh` takes them, without secrets; paths are the worker's. */
  target: Record<string, unknown>;
  /** The command; an upload job has `upload` instead (and an empty command). */
  command: string;
  upload?: UploadJob;
  env?: Record<string, string>;
  cwd?: string;
  pty?: unknown;
  sudo?: { user?: string };
  /** The command's input, base64 (bounded: STDIN_LIMIT). */
  stdin?: string;
}

/** Input larger than this is refused for --nats: a job is one message (NATS's max_payload, 1 MiB by default). */
export const STDIN_LIMIT = 512 * 1024;

export interface Heartbeat {
  worker: string;
  zone: string;
  slots: number;
  free: number;
  intervalMs: number;
}

export interface ClaimRequest {
  job: string;
  worker: string;
  delivery: number;
}

export interface ClaimAnswer {
  go: 'run' | 'drop';
}

/** A worker's event: the first byte says which, the rest is the body. */
export const EVENT = { stdout: 0x6f, stderr: 0x65, done: 0x64, error: 0x78 } as const;

export interface DoneBody {
  exitCode: number | null;
  signal: string | null;
  sudo?: SudoFailureFacts;
}

export interface ErrorBody {
  error: WireError;
}

export interface CancelBody {
  signal: string;
  graceMs: number;
}

/** Target options that are secrets: a host that has one is not sent to a worker. */
const SECRET_KEYS = new Set(['password', 'passphrase', 'sudoPassword']);

/**
 * The target as a job carries it (plain JSON), or the name of the secret it holds (a password, a
 * key's passphrase, a key's text) or of a value JSON cannot carry.
 */
export function jobTarget(target: unknown): { target: Record<string, unknown> } | { refused: string } {
  const raw = typeof target === 'string' ? { host: target } : target;
  let refused: string | undefined;
  const copy = JSON.parse(
    JSON.stringify(raw, (key: string, value: unknown) => {
      if (SECRET_KEYS.has(key) && value !== undefined) refused ??= key;
      if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint')
        refused ??= key;
      if (value instanceof Object && (value as { type?: unknown }).type === 'Buffer') refused ??= key;
      if (key === 'privateKey' && typeof value === 'string' && /\n|-----BEGIN/.test(value))
        refused ??= 'privateKey (the key text)';
      return value;
    }) ?? 'null',
  ) as unknown;
  if (refused !== undefined) return { refused };
  if (typeof copy !== 'object' || copy === null) return { refused: 'target' };
  return { target: copy as Record<string, unknown> };
}

/** A job message read back on a worker: the fields it needs, with their types, or an Error. */
export function parseJob(data: Uint8Array): JobMessage {
  const m = JSON.parse(Buffer.from(data).toString('utf8')) as Partial<JobMessage>;
  if (m.v !== WIRE_VERSION)
    throw new Error(`a job of wire version ${String(m.v)} (this worker reads ${WIRE_VERSION})`);
  for (const k of ['coord', 'job', 'host', 'command'] as const)
    if (typeof m[k] !== 'string') throw new Error(`a job without ${k}`);
  checkToken(m.coord, 'job coord');
  checkToken(m.job, 'job id');
  if (typeof m.target !== 'object' || m.target === null || typeof m.target.host !== 'string')
    throw new Error('a job without a target host');
  for (const k of SECRET_KEYS)
    if (k in m.target) throw new Error(`a job whose target holds ${k}: workers take no secret`);
  if (m.env !== undefined) {
    if (typeof m.env !== 'object' || m.env === null) throw new Error('a job with a bad env');
    for (const [k, v] of Object.entries(m.env))
      if (!isEnvName(k) || typeof v !== 'string')
        throw new Error(`a job with a bad variable ${JSON.stringify(k)}`);
  }
  if (m.cwd !== undefined && typeof m.cwd !== 'string') throw new Error('a job with a bad cwd');
  if (m.stdin !== undefined && typeof m.stdin !== 'string') throw new Error('a job with a bad input');
  if (m.upload !== undefined) checkUpload(m.upload);
  return m as JobMessage;
}

function checkUpload(u: unknown): void {
  if (typeof u !== 'object' || u === null) throw new Error('a job with a bad upload');
  const up = u as Partial<UploadJob>;
  checkToken(up.file, 'upload file');
  if (!Number.isSafeInteger(up.size) || up.size! < 0 || up.size! > FILE_LIMIT)
    throw new Error(`an upload of a bad size ${String(up.size)}`);
  if (!Number.isSafeInteger(up.chunks) || up.chunks! < 0 || up.chunks! > Math.ceil(FILE_LIMIT / FILE_CHUNK))
    throw new Error('an upload with a bad chunk count');
  if (typeof up.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(up.sha256))
    throw new Error('an upload without a SHA-256');
  if (typeof up.remote !== 'string' || up.remote === '' || up.remote.includes('\0'))
    throw new Error('an upload without a remote path');
  if (up.mode !== undefined && (!Number.isInteger(up.mode) || up.mode < 0 || up.mode > 0o7777))
    throw new Error('an upload with a bad mode');
}

export function json(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

export function event(type: number, body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}
