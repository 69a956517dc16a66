// Adaptive concurrency on fleets of real sshd whose capacity is really limited: every host's
// command takes its turn at one shared resource (test/harness/capacity.ts) that serves 6 at full
// speed and slows past that; or the sshd take 2 handshakes at a time (MaxStartups 2), and the SSH
// layer's retries of the dropped ones make latency grow with the width. The limit must settle near
// the knee, and no host may be lost. The throughput against the best fixed width is
// bench/adaptive.ts's to measure, not a timed test's.
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $ } from '../../src/index.js';
import { startCapacity, type CapacityServer } from '../harness/capacity.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const CAPACITY = 6;
let tf: TestFleet;
let tight: TestFleet;
let home: string | undefined;

before(async () => {
  if (skip) return;
  [tf, tight] = await Promise.all([
    startFleet({ healthy: 96 }),
    startFleet({ healthy: 48, namePrefix: 'ms', extraSshdConfig: 'MaxStartups 2:100:2\n' }),
  ]);
  // $.fleet's default transport reads ~/.ssh/config: the harness's, so host names resolve to it.
  home = process.env.HOME;
  const h = join(tf.dir, 'home');
  await mkdir(join(h, '.ssh'), { recursive: true });
  await copyFile(tf.sshConfigPath, join(h, '.ssh', 'config'));
  process.env.HOME = h;
});
after(async () => {
  await $.close();
  await Promise.all([tf?.stop(), tight?.stop()]);
  if (home !== undefined) process.env.HOME = home;
});

describe('adaptive concurrency on a limited fleet of real sshd', { skip }, () => {
  let cap: CapacityServer;
  before(async () => (cap = await startCapacity({ capacity: CAPACITY, baseMs: 300, contention: 0.03 })));
  after(() => cap?.close());

  test('settles near the knee of a shared resource, every host served once and ok', async () => {
    const names = tf.healthy.map((h) => h.name);
    const run = $.fleet(names, { concurrency: { initial: 2, max: 64 }, connectTimeout: 30_000 })
      .run`${$.raw(cap.command)}`;
    const limits: number[] = []; // the limit as each host ended
    const changes: string[] = [];
    run.on('server:success', () => limits.push(run.concurrency));
    run.on('server:error', () => limits.push(run.concurrency));
    run.on('concurrency:change', (c) => changes.push(`${c.from}→${c.to} (${c.reason})`));
    const report = await run;

    assert.equal(report.counts.ok, 96, report.toText());
    assert.deepEqual([...cap.served].sort(), [...names].sort(), 'each host served exactly once');
    // The second half of the run: after learning. Its median limit sits near the knee (6); the
    // margins are wide because this machine's load adds latency the limit cannot tell from a queue.
    const late = [...limits.slice(limits.length / 2)].sort((a, b) => a - b);
    const median = late[late.length >> 1]!;
    const detail = `median limit ${median} late in the run, peak ${cap.peak} at the resource; ${changes.join(', ')}`;
    assert.ok(median >= CAPACITY / 2 && median <= CAPACITY * 3, detail);
    assert.ok(
      changes.some((c) => /against \d+ ms without a queue/.test(c)),
      `found the knee by latency: ${detail}`,
    );
  });
});

describe('adaptive concurrency on sshd that take 2 handshakes at a time (MaxStartups 2)', { skip }, () => {
  test('stays bounded while dropped handshakes are retried, every host once and ok', async () => {
    const targets = tight.healthy.map((h) => ({ host: h.name, sshConfig: tight.sshConfigPath }));
    const run = $.fleet(targets, { concurrency: { initial: 8, max: 64 }, connectTimeout: 60_000 })
      .run`sleep 0.2`;
    const limits: number[] = [];
    const changes: string[] = [];
    run.on('server:success', () => limits.push(run.concurrency));
    run.on('concurrency:change', (c) => changes.push(`${c.from}→${c.to} (${c.reason})`));
    const report = await run;
    assert.equal(report.counts.ok, 48, report.toText());
    assert.deepEqual(report.hosts.map((h) => h.host).sort(), targets.map((t) => t.host).sort());
    // 3 sshd take 6 handshakes at once; measured here, the limit settled between 10 and 16
    const late = [...limits.slice(limits.length / 2)].sort((a, b) => a - b);
    const median = late[late.length >> 1]!;
    assert.ok(median <= 40, `median limit ${median} late in the run; ${changes.join(', ')}`);
  });
});
