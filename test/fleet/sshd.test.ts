// The fleet engine against real OpenSSH servers from the harness: concurrency measured on the
// server side, adaptive concurrency against black holes, failure kinds of real faults, and the
// batch-operations guide's examples with its host names.
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { $ } from '../../src/index.js';
import type { FleetOptions } from '../../src/fleet/options.js';
import type { Target } from '../../src/fleet/target.js';
import { sshConnect } from '../../src/fleet/connect.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { settlesWithin } from '../harness/settle.js';
import { notFoundLookup, sshFor } from '../ssh/helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
let tf: TestFleet;
// $.fleet with its default transport, $.ssh, reading ~/.ssh/config: HOME points at a folder whose
// .ssh/config is the harness's, so the guide's host names resolve to harness hosts.
const fleet = (targets: Target[], options: FleetOptions) => $.fleet(targets, options);
const connect = undefined;
let fixture: string;
const guideNames = ['web1.example.com', 'web2.example.com', 'web3.example.com'];

before(async () => {
  if (skip) return;
  tf = await startFleet({
    healthy: 20,
    aliases: guideNames,
    faults: ['dead-port', 'black-hole', 'black-hole', 'refuses-key', 'changed-key'],
  });
  const home = join(tf.dir, 'home');
  await mkdir(join(home, '.ssh'), { recursive: true });
  await copyFile(tf.sshConfigPath, join(home, '.ssh', 'config'));
  process.env.HOME = home;
  // Logs "+ address" and "- address" around a sleep: which host ran when, seen from the server side.
  fixture = join(tf.dir, 'fixture.sh');
  await writeFile(
    fixture,
    '#!/bin/sh\naddr=$(echo "$SSH_CONNECTION" | cut -d" " -f3)\necho "+ $addr" >> "$1"\nsleep "$2"\necho "- $addr" >> "$1"\necho "done on $addr"\n',
  );
  await chmod(fixture, 0o755);
});
after(async () => {
  await $.close();
  await tf?.stop();
});

function overlap(log: string): { max: number; hosts: number } {
  let now = 0;
  let max = 0;
  const hosts = new Set<string>();
  for (const line of log.trim().split('\n')) {
    now += line.startsWith('+') ? 1 : -1;
    max = Math.max(max, now);
    hosts.add(line.slice(2));
  }
  return { max, hosts: hosts.size };
}

describe('fleet against real sshd', { skip }, () => {
  test('the concurrency limit holds on the server side, and the window stays full', async () => {
    const log = join(tf.dir, 'concurrency.log');
    const names = tf.healthy.map((h) => h.name);
    const report = await fleet(names, { connect, concurrency: 5 }).run`${fixture} ${log} 1`;
    assert.equal(report.counts.ok, 20, report.toText());
    const o = overlap(await readFile(log, 'utf8'));
    assert.equal(o.hosts, 20);
    assert.ok(o.max <= 5, `at most 5 at once on the servers, saw ${o.max}`);
    assert.ok(o.max >= 3, `a sliding window keeps the limit busy, saw ${o.max}`);
    assert.equal(report.groups[0]!.similar, true, 'outputs differ only in the address');
  });

  test('faults are reported by kind, every host once, and unreachable hosts do not hold back the rest', async () => {
    const names = [...tf.healthy.slice(0, 5), ...tf.hosts.filter((h) => h.personality !== 'healthy')].map(
      (h) => h.name,
    );
    const t0 = performance.now();
    const report = await fleet(names, { connect, concurrency: 10, connectTimeout: 1000 }).run`echo ok`;
    assert.ok(
      performance.now() - t0 < 10_000,
      `black holes cost the connect timeout, not more: ${performance.now() - t0} ms`,
    );
    assert.deepEqual(
      report.hosts.map((h) => h.host),
      names,
    );
    const kinds = Object.fromEntries(
      report.hosts
        .filter((h) => h.status !== 'ok')
        .map((h) => [tf.host(h.host).personality + ':' + h.host.slice(-1), `${h.status}/${h.kind}`]),
    );
    assert.equal(report.counts.ok, 5);
    assert.equal(report.counts.unreachable, 5, report.toText());
    assert.equal(kinds['dead-port:t'], 'unreachable/refused');
    assert.equal(report.hosts.find((h) => tf.host(h.host).personality === 'refuses-key')!.kind, 'auth');
    assert.equal(
      report.hosts.find((h) => tf.host(h.host).personality === 'changed-key')!.kind,
      'changed-host-key',
    );
    for (const h of report.hosts.filter((x) => tf.host(x.host).personality === 'black-hole'))
      assert.equal(h.kind, 'connect-timeout');
  });

  test('a host that does not resolve is unreachable with kind dns, through a lookup that answers locally (no DNS query leaves)', async () => {
    const queried: string[] = [];
    const offline = sshFor(tf, {
      lookup: notFoundLookup(queried),
    });
    try {
      const healthy = tf.healthy.slice(0, 2).map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath }));
      const run = $.fleet([{ host: 'no-such-host.invalid', sshConfig: false }, ...healthy], {
        connect: sshConnect(offline),
      }).run`echo ok`;
      const report = await settlesWithin(run, 30_000, 'a fleet run with a name that does not resolve');
      const bad = report.hosts[0]!;
      assert.equal(bad.status, 'unreachable');
      assert.equal(bad.kind, 'dns');
      assert.match(bad.error!, /^no-such-host\.invalid: host name does not resolve/);
      assert.equal(report.counts.ok, 2, 'the other hosts are unaffected');
      assert.match(report.toText(), /unreachable \(dns\)[^\n]*no-such-host\.invalid/);
      assert.deepEqual(queried, ['no-such-host.invalid']);
    } finally {
      await offline.close();
    }
  });

  test('a host that prints 1 GiB: its result is capped at 1 MiB and flagged, memory stays bounded, the others are unaffected', async () => {
    const [big, ...others] = tf.healthy.slice(0, 3);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    let pieces = 0;
    try {
      const names = [big!, ...others].map((h) => h.name);
      const run = fleet(names, { connect })
        .run`if [ "$(echo $SSH_CONNECTION | cut -d' ' -f3)" = ${big!.address} ]; then head -c 1073741824 /dev/zero; else echo small; fi`;
      run.on('server:output', ({ server }) => server === big!.name && pieces++);
      const report = await settlesWithin(run, 120_000, 'a fleet run with a host printing 1 GiB');
      const [b, ...o] = report.hosts;
      assert.equal(b!.status, 'ok', b!.error ?? '');
      assert.equal(b!.stdout!.length, 1024 * 1024, 'the fleet default maxOutput of 1 MiB');
      assert.equal(b!.truncated, true);
      assert.ok(pieces >= 1024, `the output streamed as ${pieces} line events`);
      assert.deepEqual(
        o.map((h) => h.stdout),
        ['small\n', 'small\n'],
      );
    } finally {
      clearInterval(sampler);
    }
    // Measured here: 28-30 MiB of growth (1 MiB kept per stream, line events and chunks awaiting GC).
    const grew = peak - before;
    assert.ok(grew < 128 * 1024 * 1024, `rss grew by ${Math.round(grew / 1048576)} MiB for 1 GiB of output`);
  });

  test('the timeout counts from the connection: a black hole with timeout equal to connectTimeout is unreachable, not timed out', async () => {
    const hole = tf.hosts.find((h) => h.personality === 'black-hole')!.name;
    const slow = tf.healthy[0]!.name;
    for (const slowConnect of [undefined, false] as const) {
      const report = await fleet([hole, slow], {
        connect,
        connectTimeout: 1000,
        timeout: 1000,
        ...(slowConnect === false ? { slowConnect } : {}),
      }).run`sleep 0.5; echo ran`;
      const h = report.hosts.find((x) => x.host === hole)!;
      assert.equal(h.status, 'unreachable', `slowConnect ${slowConnect}: ${h.error}`);
      assert.equal(h.kind, 'connect-timeout');
      assert.doesNotMatch(h.error ?? '', /killed/);
      // A command of 0.5 s under a 1 s timeout runs to its end, however long the connection took.
      assert.equal(report.hosts.find((x) => x.host === slow)!.stdout, 'ran\n');
    }
  });

  test('adaptive concurrency is not shrunk by black holes among fast hosts, and grows on healthy hosts', async () => {
    const holes = tf.hosts.filter((h) => h.personality === 'black-hole').map((h) => h.name);
    const healthy = tf.healthy.map((h) => h.name);
    // black holes spread among healthy hosts
    const mixed = [
      ...healthy.slice(0, 6),
      holes[0]!,
      ...healthy.slice(6, 12),
      holes[1]!,
      ...healthy.slice(12),
    ];
    const run = fleet(mixed, { connect, connectTimeout: 1000, concurrency: { initial: 8, min: 2, max: 16 } })
      .run`${fixture} /dev/null 0.2`;
    const changes: { from: number; to: number; reason: string }[] = [];
    run.on('concurrency:change', (c) => changes.push(c));
    const report0 = await run;
    // a black hole fails alone while its peers answer fast: that host's fault, not load
    assert.ok(!changes.some((c) => /dropped or timed out/.test(c.reason)), JSON.stringify(changes));
    assert.equal(report0.counts.ok, healthy.length);
    assert.equal(report0.counts.unreachable, 2);

    const grow = fleet(healthy, { connect, concurrency: { initial: 2, min: 1, max: 10 } })
      .run`${fixture} /dev/null 0.1`;
    const ups: number[] = [];
    grow.on('concurrency:change', (c) => ups.push(c.to));
    const report = await grow;
    assert.ok(ups.length > 0 && Math.max(...ups) > 2, JSON.stringify(ups));
    assert.ok(report.peakConcurrency > 2);
  });

  test("the batch-operations guide's examples: events, fail-fast, retries and the report on hosts named as in the guide", async () => {
    const servers = guideNames.map((host) => ({ host, username: tf.user }));
    const run = fleet(servers, { connect }).run`uptime`;
    const lines: string[] = [];
    run.on('batch:start', ({ total }) => lines.push(`Starting batch operation on ${total} servers`));
    run.on('server:success', ({ server, progress }) =>
      lines.push(`${server} completed (${(progress * 100).toFixed(1)}%)`),
    );
    run.on('server:error', ({ server, error }) => lines.push(`${server} failed: ${error}`));
    run.on('batch:complete', ({ results }) =>
      lines.push(`Batch complete: ${results.filter((r) => r.success).length}/${results.length} successful`),
    );
    const report = await run;
    assert.equal(lines[0], 'Starting batch operation on 3 servers');
    assert.equal(lines.at(-1), 'Batch complete: 3/3 successful');
    assert.equal(lines.filter((l) => /completed \((33\.3|66\.7|100\.0)%\)$/.test(l)).length, 3);
    assert.match(report.toText(), /^3 hosts: 3 ok in /m);
    assert.ok(report.hosts.every((h) => / up /.test(h.stdout ?? '')));

    // fail-fast on the guide's servers plus a dead one first in line: nothing else starts
    const dead = tf.hosts.find((h) => h.personality === 'dead-port')!.name;
    const ff = await fleet([dead, ...guideNames], { connect, concurrency: 1, failFast: true })
      .run`systemctl is-active nginx || true`;
    assert.deepEqual(
      ff.hosts.map((h) => h.status),
      ['unreachable', 'skipped', 'skipped', 'skipped'],
    );

    // retries: the guide's batchWithRetry, with backoff visible per attempt
    const rr = await fleet([dead, guideNames[0]!], {
      connect,
      retries: { attempts: 3, baseMs: 100, jitter: 0 },
    }).run`true`;
    assert.deepEqual(
      rr.hosts[0]!.attempts.map((a) => a.retryInMs),
      [100, 200, null],
    );
    assert.equal(rr.hosts[1]!.attempts.length, 1);
  });

  test('a script with a fleet run ends by itself soon after its last host, without close()', async () => {
    const repo = resolve(fileURLToPath(import.meta.url), '../../..');
    const script = join(tf.dir, 'guide-fleet.mts');
    await writeFile(
      script,
      `import { $ } from ${JSON.stringify(join(repo, 'src/index.ts'))};\n` +
        `const servers = ${JSON.stringify(guideNames.map((host) => ({ host, username: tf.user })))};\n` +
        'const report = await $.fleet(servers, { progress: true }).run`uptime`;\n' +
        'console.log(`done ${report.counts.ok}/${report.counts.total} ${Math.round(performance.now())}`);\n',
    );
    const out = await new Promise<{ stdout: string; exitedAt: number }>((done, fail) => {
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const t0 = performance.now();
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', fail);
      child.on('close', () => (clearTimeout(timer), done({ stdout, exitedAt: performance.now() - t0 })));
    });
    const m = /done 3\/3 (\d+)/.exec(out.stdout);
    assert.ok(m, out.stdout);
    // the child's clock starts with the child: its last line's time against its exit, both ≈ since spawn
    assert.ok(
      out.exitedAt - Number(m[1]) < 2500,
      `exited ${Math.round(out.exitedAt - Number(m[1]))} ms after its last line`,
    );
  });
});
