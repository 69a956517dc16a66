// The agent's frames: what goes in comes out, however the bytes are cut; a frame past a bound or
// with a bad header is refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeFrame, FrameDecoder, FrameError, MAX_HEADER, MAX_PAYLOAD } from '../../src/agent/protocol.js';

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
});
