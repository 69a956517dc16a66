// Benchmark: fleetsh's SSH layer against a minimal raw ssh2 loop, on the same harness fleet, in one
// run. Cold fan-out (a handshake and `true` per host, at a fixed fan-out width) and warm commands
// (10 more commands per host on the open connections). Prints wall time, controller CPU and ratios.
//
//   npx tsx bench/ssh-fanout.ts [--hosts 200] [--width 64] [--commands 10] [--rounds 2]
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import { createSsh } from '../src/ssh/shell.js';
import { SshPool } from '../src/ssh/pool.js';
import { startFleet, type FleetHost, type TestFleet } from '../test/harness/fleet.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const HOSTS = arg('hosts', 200);
const WIDTH = arg('width', 64);
const COMMANDS = arg('commands', 10);
const ROUNDS = arg('rounds', 2);

interface Sample {
  wallMs: number;
  cpuMs: number;
}

async function measure(fn: () => Promise<void>): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Runs `work` for each item with at most `width` at once (a sliding window). */
async function window<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

// ---- the raw ssh2 baseline: what a careful user would write by hand --------------------------------

const KEX = ['curve25519-sha256', 'curve25519-sha256@libssh.org'];

function rawConnect(fleet: TestFleet, key: Buffer, h: FleetHost): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => resolve(c));
    c.on('error', reject);
    c.connect({
      host: h.address,
      port: h.port,
      username: fleet.user,
      privateKey: key,
      readyTimeout: 30_000,
      algorithms: { kex: KEX as never },
      hostVerifier: () => true,
    });
  });
}

function rawExec(c: ssh2.Client, command: string): Promise<number> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, ch) => {
      if (err) return reject(err);
      let code = -1;
      ch.on('exit', (c: number) => (code = c));
      ch.on('data', () => {});
      ch.stderr.on('data', () => {});
      ch.on('close', () => resolve(code));
      ch.end();
    });
  });
}

async function main(): Promise<void> {
  process.stderr.write(`starting ${HOSTS} harness hosts...\n`);
  const fleet = await startFleet({ healthy: HOSTS });
  const key = readFileSync(fleet.clientKeyPath);
  const rows: Array<{ name: string; raw: Sample; lib: Sample }> = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // raw ssh2
      const rawClients: ssh2.Client[] = [];
      const rawCold = await measure(() =>
        window(fleet.healthy, WIDTH, async (h) => {
          const c = await rawConnect(fleet, key, h);
          rawClients.push(c);
          await rawExec(c, 'true');
        }),
      );
      const rawWarm = await measure(() =>
        window(rawClients, WIDTH, async (c) => {
          for (let i = 0; i < COMMANDS; i++) await rawExec(c, 'true');
        }),
      );
      for (const c of rawClients) c.end();

      // fleetsh: each host through `$.ssh(target)` and the pool, targets resolved from ssh_config
      const ssh = createSsh(new SshPool({ onWarning: () => {} }), {
        homedir: fleet.dir,
        env: {},
        systemConfigFile: false,
        globalKnownHostsFiles: [],
      });
      const target = (h: FleetHost) => ({ host: h.name, sshConfig: fleet.sshConfigPath });
      const libCold = await measure(() =>
        window(fleet.healthy, WIDTH, async (h) => {
          await ssh(target(h))`true`;
        }),
      );
      const libWarm = await measure(() =>
        window(fleet.healthy, WIDTH, async (h) => {
          const s = ssh(target(h));
          for (let i = 0; i < COMMANDS; i++) await s`true`;
        }),
      );
      await ssh.close();
      rows.push({
        name: `round ${round} cold fan-out (${HOSTS} hosts, width ${WIDTH})`,
        raw: rawCold,
        lib: libCold,
      });
      rows.push({ name: `round ${round} warm: ${COMMANDS} commands/host`, raw: rawWarm, lib: libWarm });
    }
  } finally {
    await fleet.stop();
  }
  const f = (n: number) => n.toFixed(0).padStart(7);
  console.log(
    `\n${'case'.padEnd(48)} ${'raw ms'.padStart(7)} ${'lib ms'.padStart(7)}  wall×  ${'rawCPU'.padStart(7)} ${'libCPU'.padStart(7)}  cpu×`,
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(48)} ${f(r.raw.wallMs)} ${f(r.lib.wallMs)}  ${(r.lib.wallMs / r.raw.wallMs).toFixed(2)}  ${f(r.raw.cpuMs)} ${f(r.lib.cpuMs)}  ${(r.lib.cpuMs / r.raw.cpuMs).toFixed(2)}`,
    );
  }
  const warm = rows.filter((r) => r.name.includes('warm')).at(-1)!;
  const perCmd = (s: Sample) => (s.wallMs / (HOSTS * COMMANDS)) * WIDTH;
  console.log(
    `\nper warm command (wall × width / commands): raw ${perCmd(warm.raw).toFixed(2)} ms, lib ${perCmd(warm.lib).toFixed(2)} ms`,
  );
}

await main();
