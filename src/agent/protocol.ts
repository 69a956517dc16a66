// The agent's wire format on its Unix socket: frames of a JSON header and a binary payload, streams
// multiplexed by request id. A frame is
//
//   u32 header length | u32 payload length | header (UTF-8 JSON object) | payload (bytes)
//
// both lengths big-endian and bounded (MAX_HEADER, MAX_PAYLOAD): a frame past a bound, a header that
// is not a JSON object with a string `t`, ends that one peer's connection (FrameError), nothing else.
// Written here (about 80 lines) rather than taken from npm: the small framing packages
// (length-prefixed-stream, it-length-prefixed) frame one byte string each, so a header and its
// payload would need a second encoding inside; msgpack or protobuf RPC stacks bring far more code
// than the CLI should load at start-up for this one socket.
import type { Socket } from 'node:net';

/** A header's bound: the largest is an exec request (a command line and its environment). */
export const MAX_HEADER = 1024 * 1024;
/** A payload's bound: output and input chunks are cut below it. */
export const MAX_PAYLOAD = 1024 * 1024;
/** Input bytes sent ahead of the agent's acknowledgement, per command (its flow-control window). */
export const STDIN_WINDOW = 1024 * 1024;
/** Input chunk size on the wire. */
export const STDIN_CHUNK = 256 * 1024;
/** Bumped when a message changes shape; an agent and a CLI of different versions do not talk. */
export const PROTOCOL_VERSION = 2;

export interface Header {
  /** The message type. */
  t: string;
  /** The request it belongs to (a number chosen by the client), for multiplexed messages. */
  id?: number;
  [field: string]: unknown;
}

export interface Frame {
  header: Header;
  payload: Buffer;
}

/** A peer sent something that is not a frame of this protocol. */
export class FrameError extends Error {}

export function encodeFrame(header: Header, payload?: Buffer): Buffer {
  const head = encodeHead(header, payload?.length ?? 0);
  return payload && payload.length > 0 ? Buffer.concat([head, payload]) : head;
}

/** The two lengths and the header of a frame whose payload has `size` bytes. */
function encodeHead(header: Header, size: number): Buffer {
  const json = JSON.stringify(header);
  const length = Buffer.byteLength(json, 'utf8');
  if (length > MAX_HEADER) throw new FrameError(`a ${header.t} header of ${length} bytes is too large`);
  if (size > MAX_PAYLOAD) throw new FrameError(`a payload of ${size} bytes is too large`);
  const head = Buffer.allocUnsafe(8 + length);
  head.writeUInt32BE(length, 0);
  head.writeUInt32BE(size, 4);
  head.write(json, 8, 'utf8');
  return head;
}

/**
 * Sends frames on a socket, corked until the event loop's next turn: the frames of one turn (the
 * requests of a fan-out, the output and ends of the hosts read in one poll) leave in one writev, not
 * a write each. Each write to a local socket is a system call that wakes its reader, which on a
 * busy machine may take the CPU from the writer at once: in bench/agent-profile.ts's profiles (200
 * hosts, load 16) socket writes held 4-7 % of the CLI's samples. Measured with it, 8 warm runs on
 * 200 hosts at load 12: the CLI's CPU 174 -> 163 ms a run, the agent's the same (its own writes are
 * mostly ssh2's, one a packet).
 */
export function frameSender(socket: Socket): {
  send(header: Header, payload?: Buffer): void;
  /** Hands what this turn sent to the socket now (before a destroy, which would drop it). */
  flush(): void;
} {
  let corked = false;
  const flush = () => {
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  return {
    flush,
    send(header, payload) {
      if (socket.destroyed) return;
      const head = encodeHead(header, payload?.length ?? 0);
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(flush);
      }
      socket.write(head);
      if (payload && payload.length > 0) socket.write(payload);
    },
  };
}

/** Turns a byte stream into frames; push() throws a FrameError on the first bad frame. */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #length = 0;

  /** Adds bytes; returns every frame they complete. */
  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#length < 8) return frames;
      const head = this.#peek(8);
      const headerLength = head.readUInt32BE(0);
      const payloadLength = head.readUInt32BE(4);
      if (headerLength === 0 || headerLength > MAX_HEADER)
        throw new FrameError(`a frame header of ${headerLength} bytes (at most ${MAX_HEADER})`);
      if (payloadLength > MAX_PAYLOAD)
        throw new FrameError(`a frame payload of ${payloadLength} bytes (at most ${MAX_PAYLOAD})`);
      const total = 8 + headerLength + payloadLength;
      if (this.#length < total) return frames;
      const whole = this.#take(total);
      frames.push({
        header: parseHeader(whole.subarray(8, 8 + headerLength)),
        payload: whole.subarray(8 + headerLength),
      });
    }
  }

  /** The first n buffered bytes, joined into one buffer (kept as the first chunk). */
  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!.subarray(0, n);
  }

  #take(n: number): Buffer {
    const first = this.#peek(n);
    const rest = this.#chunks[0]!.subarray(n);
    if (rest.length > 0) this.#chunks[0] = rest;
    else this.#chunks.shift();
    this.#length -= n;
    return first;
  }
}

function parseHeader(bytes: Buffer): Header {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new FrameError('a frame header that is not JSON');
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    typeof (value as Header).t !== 'string'
  )
    throw new FrameError('a frame header without a message type');
  const id = (value as Header).id;
  if (id !== undefined && !(Number.isSafeInteger(id) && (id as number) >= 0))
    throw new FrameError('a frame header with a bad request id');
  return value as Header;
}
