// The agent's frames: what goes in comes out, however the bytes are cut; a frame past a bound or
// with a bad header is refused; frames sent on a socket in one turn leave together, in order, and a
// flush before the socket is destroyed still delivers them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  frameSender,
  MAX_HEADER,
  MAX_PAYLOAD,
  type Frame,
} from '../../src/agent/protocol.js';

/** A connected pair of Unix sockets in a temporary folder; `done` closes everything. */
async function socketPair(): Promise<{ a: Socket; b: Socket; done(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetsh-frames-'));
  const path = join(dir, 's');
  const server = createServer();
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(path, r));
  const a = connect(path);
  const b = await accepted;
  await new Promise((r) => (a.connecting ? a.once('connect', r) : r(undefined)));
  return {
    a,
    b,
    done: () => {
      a.destroy();
      b.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Frames read from a socket until it closes. */
function readAll(socket: Socket): Promise<Frame[]> {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
  return new Promise((r) => socket.once('close', () => r(frames)));
}

describe('agent frames', () => {
  test('frames come out whole and in order, whatever the cuts', () => {
    const frames = [
      encodeFrame({ t: 'exec', id: 1, command: 'echo é' }),
      encodeFrame({ t: 'data', id: 1, stream: 'stdout' }, Buffer.from([0, 1, 2, 255])),
      encodeFrame({ t: 'done', id: 1, exitCode: 0, signal: null }),
    ];
    const bytes = Buffer.concat(frames);
    for (let cut = 1; cut <= bytes.length; cut++) {
      const d = new FrameDecoder();
      const out = [];
      for (let at = 0; at < bytes.length; at += cut) out.push(...d.push(bytes.subarray(at, at + cut)));
      assert.deepEqual(
        out.map((f) => f.header),
        [
          { t: 'exec', id: 1, command: 'echo é' },
          { t: 'data', id: 1, stream: 'stdout' },
          { t: 'done', id: 1, exitCode: 0, signal: null },
        ],
        `cut every ${cut} bytes`,
      );
      assert.deepEqual([...out[1]!.payload], [0, 1, 2, 255]);
      assert.equal(out[0]!.payload.length, 0);
    }
  });

  test('a payload at the bound passes; one byte more is refused on both sides', () => {
    const d = new FrameDecoder();
    const [f] = d.push(encodeFrame({ t: 'stdin', id: 2 }, Buffer.alloc(MAX_PAYLOAD, 7)));
    assert.equal(f!.payload.length, MAX_PAYLOAD);
    assert.throws(() => encodeFrame({ t: 'stdin', id: 2 }, Buffer.alloc(MAX_PAYLOAD + 1)), FrameError);
    const forged = Buffer.alloc(8);
    forged.writeUInt32BE(2, 0);
    forged.writeUInt32BE(MAX_PAYLOAD + 1, 4);
    // Refused from its 8-byte prefix, before any of the payload is buffered.
    assert.throws(() => new FrameDecoder().push(forged), /payload of 1048577 bytes/);
    const big = Buffer.alloc(8);
    big.writeUInt32BE(MAX_HEADER + 1, 0);
    assert.throws(() => new FrameDecoder().push(big), FrameError);
  });

  test('a header that is not a JSON object with a type, or with a bad id, is refused', () => {
    const frame = (json: string) => {
      const h = Buffer.from(json);
      const p = Buffer.alloc(8);
      p.writeUInt32BE(h.length, 0);
      return Buffer.concat([p, h]);
    };
    for (const bad of ['not json', '[1]', '{"id":1}', '{"t":"x","id":-1}', '{"t":"x","id":1.5}', 'null']) {
      assert.throws(() => new FrameDecoder().push(frame(bad)), FrameError, bad);
    }
    assert.throws(() => new FrameDecoder().push(Buffer.alloc(8)), FrameError, 'an empty header');
  });

  test('frames sent in one turn go in one write, in order, payloads whole', async () => {
    const { a, b, done } = await socketPair();
    try {
      const writes: number[] = [];
      const writev = (a as unknown as { _writev: (chunks: unknown[], cb: () => void) => void })._writev;
      (a as unknown as { _writev: typeof writev })._writev = function (chunks, cb) {
        writes.push(chunks.length);
        return writev.call(this, chunks, cb);
      };
      const received = readAll(b);
      const { send } = frameSender(a);
      for (let id = 1; id <= 50; id++) send({ t: 'data', id }, Buffer.from(`chunk ${id}`));
      send({ t: 'done', id: 50 });
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      a.end();
      const frames = await received;
      assert.deepEqual(
        frames.map((f) => f.header.id),
        [...Array.from({ length: 50 }, (_, i) => i + 1), 50],
      );
      assert.equal(frames[49]!.payload.toString(), 'chunk 50');
      assert.deepEqual(writes, [101], 'one writev for the 51 frames (50 with a payload)');
    } finally {
      done();
    }
  });

  test('flush() hands the frames of this turn over before a destroy', async () => {
    const { a, b, done } = await socketPair();
    try {
      const received = readAll(b);
      const frames = frameSender(a);
      frames.send({ t: 'ok', id: 7 });
      frames.flush();
      a.destroy();
      assert.deepEqual(
        (await received).map((f) => f.header),
        [{ t: 'ok', id: 7 }],
      );
    } finally {
      done();
    }
  });
});
