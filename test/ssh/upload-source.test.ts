// A small file's bytes read once for every upload of it: shared while unchanged, read again once
// changed, larger files and those beyond the total left to stream, and let go after the last upload.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  SHARED_FILE_MAX_BYTES,
  SHARED_TOTAL_MAX_BYTES,
  sharedContent,
  sharedContentHeld,
} from '../../src/ssh/upload-source.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetsh-upload-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function until(check: () => boolean, what: string, boundMs = 20_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('uploads of the same unchanged file share one read; a changed file is read again', async () => {
  const file = path.join(dir, 'same');
  writeFileSync(file, 'a'.repeat(1000));
  const [a, b] = await Promise.all([sharedContent(file, 1000), sharedContent(file, 1000)]);
  assert.ok(a && b);
  assert.equal(a.data, b.data, 'one buffer for both');
  assert.equal(a.data.toString(), 'a'.repeat(1000));
  // Same size, new bytes: a new stat, a new read (the first uploads keep what they had).
  writeFileSync(file, 'b'.repeat(1000));
  const c = await sharedContent(file, 1000);
  assert.ok(c);
  assert.notEqual(c.data, a.data);
  assert.equal(c.data.toString(), 'b'.repeat(1000));
  assert.equal(a.data.toString(), 'a'.repeat(1000));
  for (const s of [a, b, c]) s.release();
  a.release(); // twice: no effect
  await until(() => sharedContentHeld().files === 0, 'every entry let go after its last upload');
  assert.equal(sharedContentHeld().bytes, 0);
});

test('streamed instead: a file above the size bound, beyond the total, of another size, or unreadable', async () => {
  const big = path.join(dir, 'big');
  writeFileSync(big, '');
  truncateSync(big, SHARED_FILE_MAX_BYTES + 1);
  assert.equal(await sharedContent(big, SHARED_FILE_MAX_BYTES + 1), undefined);

  const shrunk = path.join(dir, 'shrunk');
  writeFileSync(shrunk, 'x'.repeat(10));
  assert.equal(
    await sharedContent(shrunk, 20),
    undefined,
    'the file is no longer the size the upload expects',
  );
  assert.equal(await sharedContent(path.join(dir, 'missing'), 10), undefined);
  assert.equal(await sharedContent(dir, 10), undefined, 'a folder');

  // Files at the size bound until the total is reached: the next is streamed.
  const held = [];
  const count = Math.floor(SHARED_TOTAL_MAX_BYTES / SHARED_FILE_MAX_BYTES);
  for (let i = 0; i < count; i++) {
    const f = path.join(dir, `max${i}`);
    writeFileSync(f, '');
    truncateSync(f, SHARED_FILE_MAX_BYTES);
    const s = await sharedContent(f, SHARED_FILE_MAX_BYTES);
    assert.ok(s, `file ${i} shared`);
    held.push(s);
  }
  assert.ok(sharedContentHeld().bytes <= SHARED_TOTAL_MAX_BYTES);
  const one = path.join(dir, 'one-more');
  writeFileSync(one, 'y');
  assert.equal(await sharedContent(one, 1), undefined, 'beyond the total');
  for (const s of held) s.release();
  await until(() => sharedContentHeld().files === 0, 'all let go');
  assert.ok(await sharedContent(one, 1).then((s) => (s?.release(), s)), 'shared again once the total allows');
});
