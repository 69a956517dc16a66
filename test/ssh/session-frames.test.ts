// Reading the persistent shell's frames: a command's bytes between its start and its end, whatever
// the chunks the channel delivers them in, with fake and partial tokens in the output; and the exit
// status line read as an exit code or a signal.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Demux, outcomeOf } from '../../src/ssh/session-frames.js';

const token = '@fleetsh:0123456789abcdef0123456789abcdef:';

/** Feeds `stream` to a fresh Demux in the given chunk sizes; returns the data and the trailer. */
function read(stream: Buffer, cuts: number[]): { data: Buffer; trailer: string | undefined } {
  const parts: Buffer[] = [];
  let trailer: string | undefined;
  const d = new Demux(
    (c) => parts.push(Buffer.from(c)),
    () => (trailer = d.trailer),
  );
  d.expect(token);
  let at = 0;
  for (const cut of [...cuts, stream.length]) {
    if (cut <= at) continue;
    d.push(stream.subarray(at, cut));
    at = cut;
  }
  return { data: Buffer.concat(parts), trailer };
}

describe('the frames of a persistent shell', () => {
  const output = Buffer.concat([
    Buffer.from('line one\n@fleetsh:'),
    Buffer.from('@fleetsh:ffffffffffffffffffffffffffffffff:E0 0\n'),
    Buffer.from(token.slice(0, 20)),
    randomBytes(300),
    Buffer.from('\0\r\n@'),
  ]);
  const stream = Buffer.concat([
    Buffer.from('stray bytes of an earlier command\n'),
    Buffer.from(`${token}S\n`),
    output,
    Buffer.from(`${token}E143 \n`),
    Buffer.from('more stray bytes'),
  ]);

  test('one chunk, and every split into two chunks, give the same output and status', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = read(stream, [cut]);
      assert.deepEqual(r.data, output, `split at ${cut}`);
      assert.equal(r.trailer, '143 ', `split at ${cut}`);
    }
  });

  test('random chunkings, down to single bytes', () => {
    for (let round = 0; round < 200; round++) {
      const cuts: number[] = [];
      for (let at = 0; at < stream.length;)
        cuts.push((at += 1 + Math.floor(Math.random() * (round % 7 === 0 ? 2 : 40))));
      const r = read(stream, cuts);
      assert.deepEqual(r.data, output);
      assert.equal(r.trailer, '143 ');
    }
  });

  test('nothing before the start frame is output, and the end waits for its line', () => {
    const d = new Demux(
      () => assert.fail('no output'),
      () => assert.fail('no end yet'),
    );
    d.expect(token);
    d.push(Buffer.from(`${token}E0 0\n`)); // an end before the start: a stray's, ignored
    assert.equal(d.done, false);
    let ended = false;
    const e = new Demux(
      () => {},
      () => (ended = true),
    );
    e.expect(token);
    e.push(Buffer.from(`${token}S\n${token}E0`));
    assert.equal(ended, false);
    e.push(Buffer.from(' 0\n'));
    assert.equal(ended, true);
    assert.equal(e.trailer, '0 0');
  });

  test('the status: an exit code the shell recorded, or a signal', () => {
    assert.deepEqual(outcomeOf('0 0'), { exitCode: 0, signal: null });
    assert.deepEqual(outcomeOf('3 '), { exitCode: 3, signal: null });
    assert.deepEqual(outcomeOf('130 130'), { exitCode: 130, signal: null });
    assert.deepEqual(outcomeOf('143 '), { exitCode: null, signal: 'SIGTERM' });
    assert.deepEqual(outcomeOf('143 0'), { exitCode: null, signal: 'SIGTERM' });
    assert.deepEqual(outcomeOf('137 '), { exitCode: null, signal: 'SIGKILL' });
    assert.deepEqual(outcomeOf('255 '), { exitCode: 255, signal: null });
    for (const bad of ['', 'x', '300 ', '1', '1 2 3', '-1 ', '0 0 '])
      assert.equal(outcomeOf(bad), undefined, JSON.stringify(bad));
  });
});
