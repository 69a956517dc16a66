// The fleet engine's overhead and its behaviour with black holes, on a harness fleet of real sshd:
//
//   1. fan-out: N healthy hosts (default 200), one trivial command each, at the same width (64):
//      a raw ssh2 loop (connect, exec, close; a sliding window, no host key check, no report) against
//      $.fleet(...).run`true` (ssh_config resolution, host keys, pool, events, report). Wall time and
//      controller CPU, runs interleaved; the target is fleet/raw ≤ 1.1.
//   2. black holes: M hosts (default 1000) of which 10 % accept TCP and never answer, connectTimeout
//      2 s: the run must end within the healthy hosts' time plus the connect timeout.
//
//   node --import tsx bench/fleet-overhead.ts [N=200] [M=1000] [runs=3] [maxHandshakes] [connectTimeoutMs=2000]
//
// Note: the pool's handshake cap (maxHandshakes, default 32) is held by a black hole for the whole
// connect timeout, so with many black holes it is the pool, not the fleet's window, that queues
// healthy handshakes; the 5th argument raises it to show each layer's share.
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import { $ } from '../src/index.js';
import { startFleet, type FleetHost, type TestFleet } from '../test/harness/fleet.js';

const N = Number(process.argv[2] ?? 200);
const M = Number(process.argv[3] ?? 1000);
const RUNS = Number(process.argv[4] ?? 3);
const WIDTH = 64;
const MAX_HANDSHAKES = process.argv[5] ? Number(process.argv[5]) : undefined;
const CONNECT_TIMEOUT = Number(process.argv[6] ?? 2000);
if (MAX_HANDSHAKES) $.ssh.configure({ maxHandshakes: MAX_HANDSHAKES });

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function measure(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const c0 = cpuMs();
  const t0 = performance.now();
  await fn();
  return { wall: performance.now() - t0, cpu: cpuMs() - c0 };
}

function rawOne(h: FleetHost, user: string, key: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () =>
      c.exec('true', (err, ch) => {
        if (err) return reject(err);
        ch.on('close', () => (c.end(), resolve()));
        ch.resume();
        ch.stderr.resume();
      }),
    );
    c.on('error', reject);
    c.connect({
      host: h.address,
      port: h.port,
      username: user,
      privateKey: key,
      hostVerifier: () => true,
      readyTimeout: 20_000,
    });
  });
}

async function rawLoop(hosts: FleetHost[], user: string, key: Buffer): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const h = hosts[next++]!;
      await rawOne(h, user, key).catch(() => failed++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WIDTH, hosts.length) }, worker));
  return failed;
}

/** The same window over $.ssh without the fleet engine: separates the engine's cost from the transport's. */
async function sshLoop(tf: TestFleet, hosts: FleetHost[]): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const h = hosts[next++]!;
      await $.ssh({ host: h.name, sshConfig: tf.sshConfigPath })`true`.catch(() => failed++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WIDTH, hosts.length) }, worker));
  await $.close();
  return failed;
}

async function fleetRun(tf: TestFleet, hosts: FleetHost[], options: object = {}) {
  const report = await $.fleet(
    hosts.map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath })),
    { concurrency: WIDTH, ...options },
  ).run`true`;
  await $.close(); // cold connections each run, as in the raw loop
  return report;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

if (N > 0) {
  const tf = await startFleet({ healthy: N });
  try {
    const key = readFileSync(tf.clientKeyPath);
    const raw: { wall: number; cpu: number }[] = [];
    const fl: { wall: number; cpu: number }[] = [];
    const sl: { wall: number; cpu: number }[] = [];
    await fleetRun(tf, tf.healthy.slice(0, 4)); // load modules and JIT before measuring
    for (let i = 0; i < RUNS; i++) {
      let failed = 0;
      raw.push(await measure(async () => (failed = await rawLoop(tf.healthy, tf.user, key))));
      let sshFailed = 0;
      sl.push(await measure(async () => (sshFailed = await sshLoop(tf, tf.healthy))));
      let ok = 0;
      fl.push(await measure(async () => (ok = (await fleetRun(tf, tf.healthy)).counts.ok)));
      console.log(
        `run ${i + 1}: raw ${raw[i]!.wall.toFixed(0)} ms (${failed} failed), $.ssh loop ${sl[i]!.wall.toFixed(0)} ms (${sshFailed} failed), ` +
          `fleet ${fl[i]!.wall.toFixed(0)} ms (${ok}/${N} ok)`,
      );
    }
    const rw = median(raw.map((r) => r.wall));
    const fw = median(fl.map((r) => r.wall));
    const rc = median(raw.map((r) => r.cpu));
    const fc = median(fl.map((r) => r.cpu));
    const sw = median(sl.map((r) => r.wall));
    const sc = median(sl.map((r) => r.cpu));
    console.log(`fan-out to ${N} hosts at width ${WIDTH}, median of ${RUNS}:`);
    console.log(
      `  wall: raw ssh2 ${rw.toFixed(0)} ms, $.ssh loop ${sw.toFixed(0)} ms, $.fleet ${fw.toFixed(0)} ms; fleet/raw ${(fw / rw).toFixed(2)}, fleet/$.ssh loop ${(fw / sw).toFixed(2)}`,
    );
    console.log(
      `  CPU:  raw ssh2 ${rc.toFixed(0)} ms, $.ssh loop ${sc.toFixed(0)} ms, $.fleet ${fc.toFixed(0)} ms; fleet/raw ${(fc / rc).toFixed(2)}, fleet/$.ssh loop ${(fc / sc).toFixed(2)}`,
    );
  } finally {
    await tf.stop();
  }
}

if (M > 0) {
  const holes = Math.round(M / 10);
  const tf = await startFleet({ healthy: M - holes, faults: Array(holes).fill('black-hole') });
  try {
    let healthyOk = 0;
    const healthyOnly = await measure(
      async () =>
        (healthyOk = (await fleetRun(tf, tf.healthy, { connectTimeout: CONNECT_TIMEOUT })).counts.ok),
    );
    // black holes spread evenly among the healthy hosts
    const mixed: FleetHost[] = [];
    const bh = tf.hosts.filter((h) => h.personality === 'black-hole');
    tf.healthy.forEach((h, i) => (mixed.push(h), i % 9 === 8 && bh.length && mixed.push(bh.shift()!)));
    mixed.push(...bh);
    let counts = {} as Record<string, number>;
    const withHoles = await measure(
      async () => (counts = (await fleetRun(tf, mixed, { connectTimeout: CONNECT_TIMEOUT })).counts),
    );
    console.log(
      `${M} hosts, ${holes} black holes, connectTimeout ${CONNECT_TIMEOUT} ms, width ${WIDTH}, maxHandshakes ${MAX_HANDSHAKES ?? 'default'}:`,
    );
    console.log(`  healthy hosts alone: ${healthyOnly.wall.toFixed(0)} ms (${healthyOk}/${M - holes} ok)`);
    console.log(
      `  with the black holes: ${withHoles.wall.toFixed(0)} ms (${counts.ok} ok, ${counts.unreachable} unreachable)`,
    );
    console.log(
      `  excess over the healthy run: ${(withHoles.wall - healthyOnly.wall).toFixed(0)} ms (target ≤ ${CONNECT_TIMEOUT} ms, the connect timeout)`,
    );
  } finally {
    await tf.stop();
  }
}
