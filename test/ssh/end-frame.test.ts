// The end frame: how a command ended, taken out of the stream that carries it wherever it comes,
// split across reads or not; bytes that only look like a frame pass on untouched.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EndFrame } from '../../src/ssh/end-frame.js';

const TOKEN = 'aabbccdd';
const frame = (said: string) => `[fleetsh:${TOKEN}:${said}]`;

function through(f: EndFrame, chunks: string[]): string {
  let out = '';
  for (const c of chunks) out += f.push(Buffer.from(c)).toString();
  return out + f.flush().toString();
}

test('the frame is taken out; its status is the exit code, or a signal when unrecorded', () => {
  for (const [said, outcome] of [
    ['end 0 0', { exitCode: 0, signal: null }],
    ['end 3 ', { exitCode: 3, signal: null }],
    ['end 143 ', { exitCode: null, signal: 'SIGTERM' }],
    ['end 143 143', { exitCode: 143, signal: null }],
    ['end 255 255', { exitCode: 255, signal: null }],
  ] as const) {
    const f = new EndFrame(TOKEN);
    assert.equal(through(f, [`err\n${frame(said)}`]), 'err\n');
    assert.deepEqual(f.outcome, outcome, said);
  }
});

test('a frame split at every byte, or followed by output of a background child', () => {
  const text = `a${frame('end 0 0')}late\n`;
  for (let cut = 0; cut <= text.length; cut++) {
    const f = new EndFrame(TOKEN);
    assert.equal(through(f, [text.slice(0, cut), text.slice(cut)]), 'alate\n', `cut at ${cut}`);
    assert.deepEqual(f.outcome, { exitCode: 0, signal: null });
  }
});

test("another token, a malformed frame or a frame's start at the end pass on as they are", () => {
  for (const text of [
    '[fleetsh:other:end 0 0]',
    `[fleetsh:${TOKEN}:end x y]`,
    `[fleetsh:${TOKEN}:end 0 0 and much more than a frame holds]`,
    `[fleetsh:${TOKEN}:en`,
  ]) {
    const f = new EndFrame(TOKEN);
    assert.equal(through(f, [text]), text);
    assert.equal(f.outcome, undefined);
  }
});

test('on a terminal: the start frame calls onStart once; a refused terminal is told', () => {
  const f = new EndFrame(TOKEN);
  let started = 0;
  f.onStart = () => started++;
  assert.equal(through(f, [`${frame('go')}out\r\n`, frame('end 0 0')]), 'out\r\n');
  assert.equal(started, 1);
  const refused = new EndFrame(TOKEN);
  assert.equal(through(refused, [frame('nopty')]), '');
  assert.equal(refused.ptyRefused, true);
});

test('the command line runs the command in a child shell and prints the frame last', () => {
  const line = new EndFrame(TOKEN).wrap('export FLEETSH_JOB=j', 'echo hi', true);
  assert.match(line, /^export FLEETSH_JOB=j\n/);
  assert.match(line, /setsid/);
  assert.ok(line.includes(`'[fleetsh:${TOKEN}:'`));
  assert.match(line, /exit "\$s"$/);
  assert.doesNotMatch(new EndFrame(TOKEN).wrap(':', 'tty', false), /setsid/);
});

test('the prefix printed as part of a command line (`ps -ef >&2`) does not hide the frame after it in the same read', () => {
  const listing = `root 12 sh -c printf '%send %s %s]' '[fleetsh:${TOKEN}:' "$s" "$r" >&2\n`;
  for (const tail of ['', 'late\n']) {
    const f = new EndFrame(TOKEN);
    assert.equal(through(f, [`${listing}${frame('end 3 3')}${tail}`]), `${listing}${tail}`);
    assert.deepEqual(f.outcome, { exitCode: 3, signal: null });
  }
  // A start of the prefix at the end after such a line is still held back for the next read.
  const f = new EndFrame(TOKEN);
  const cut = frame('end 0 0').length - 4;
  let out = f.push(Buffer.from(`${listing}${frame('end 0 0').slice(0, cut)}`)).toString();
  out += f.push(Buffer.from(frame('end 0 0').slice(cut))).toString();
  assert.equal(out, listing);
  assert.deepEqual(f.outcome, { exitCode: 0, signal: null });
});
