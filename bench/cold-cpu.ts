// Client CPU of cold connections: `true` on every host of a harness fleet of real sshd, at fan-out
// 64, each host a new connection (handshake, key exchange, login, one command). Measured in the same
// run, rounds interleaved, each case in a process of its own (no cache carried between cases):
//   - raw ssh2: a sliding window of Client.connect + exec, no ssh_config, no host key check (a floor);
//   - the library, `$.fleet(targets).run` from this checkout's dist/ (and from `--before DIR`'s dist/,
//     another checkout built the same way, e.g. main: the old behaviour in the same run);
//   - the CLI, `fleetsh run -w <hosts> -F ssh_config -- true` from dist/cli/bin.cjs (and --before's).
// The library's CPU is process.cpuUsage() around the run, after a 4-host warm-up that loads the
// modules; the CLI's is the whole process as /usr/bin/time sees it (user + sys, start-up included).
// The fleet's files are older than the caches' racy window (2 s) when measuring, as ~/.ssh is.
//
//   npm run build && node --import tsx bench/cold-cpu.ts [--hosts 200] [--width 64] [--rounds 3]
//     [--before DIR] [--no-cli]
//
// A DIR for --before, from a commit: `git archive <commit> | tar -x -C DIR`, a symlink DIR/node_modules
// to this checkout's, then `npm run build` in DIR.
//
// The target: client CPU ≤ 3 ms a host. On a shared machine CPU time grows with the load
// (cache and scheduler contention), so compare cases of the same run, not runs of different days.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..');
const run = promisify(execFile);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface FleetFile {
  user: string;
  key: string;
  sshConfig: string;
  hosts: Array<{ name: string; address: string; port: number }>;
  width: number;
}

interface Sample {
  wallMs: number;
  cpuMs: number;
  ok: number;
}

// ---- the measured side: one case in a child process ---------------------------------------------

async function client(mode: string, file: string): Promise<void> {
  const fleet = JSON.parse(readFileSync(file, 'utf8')) as FleetFile;
  let work: (hosts: FleetFile['hosts']) => Promise<number>;
  if (mode === 'raw') {
    const { Client } = (await import('ssh2')).default;
    const key = readFileSync(fleet.key);
    const one = (h: FleetFile['hosts'][number]) =>
      new Promise<boolean>((resolve) => {
        const c = new Client();
        c.on('ready', () =>
          c.exec('true', (err, ch) => {
            if (err) return resolve(false);
            ch.on('close', () => (c.end(), resolve(true)));
            ch.resume();
            ch.stderr.resume();
          }),
        );
        c.on('error', () => resolve(false));
        c.connect({
          host: h.address,
          port: h.port,
          username: fleet.user,
          privateKey: key,
          algorithms: { kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'] },
          hostVerifier: () => true,
          readyTimeout: 30_000,
        });
      });
    work = async (hosts) => {
      let next = 0;
      let ok = 0;
      const worker = async () => {
        while (next < hosts.length) if (await one(hosts[next++]!)) ok++;
      };
      await Promise.all(Array.from({ length: Math.min(fleet.width, hosts.length) }, worker));
      return ok;
    };
  } else {
    const { $ } = (await import(join(mode, 'dist', 'index.js'))) as typeof import('../src/index.js');
    work = async (hosts) => {
      const targets = hosts.map((h) => ({ host: h.name, sshConfig: fleet.sshConfig }));
      const report = await $.fleet(targets, { concurrency: fleet.width }).run`true`;
      await $.close();
      return report.counts.ok;
    };
  }
  await work(fleet.hosts.slice(0, 4)); // modules loaded, code warm
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ok = await work(fleet.hosts);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000, ok }) + '\n');
}

async function inChild(mode: string, file: string): Promise<Sample> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench', 'cold-cpu.ts'), '--client', mode, file],
    { cwd: ROOT, maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Sample;
}

let cliRuns = 0;

async function cli(root: string, fleet: FleetFile, scratch: string): Promise<Sample> {
  const t0 = performance.now();
  const names = fleet.hosts.map((h) => h.name).join(',');
  const args = ['-f', '%U %S', process.execPath, join(root, 'dist', 'cli', 'bin.cjs')];
  args.push('run', '-w', names, '-F', fleet.sshConfig, '-f', String(fleet.width), '--no-progress');
  args.push('--', 'true');
  // Direct connections: through `fleetsh agent` every run after the first would be a warm one (and
  // the agent would outlive the bench). Each run records in a journal of its own (as bench/peers.ts
  // gives them), not in the user's.
  const env = {
    ...process.env,
    FLEETSH_NO_AGENT: '1',
    FLEETSH_JOURNAL: join(scratch, `journal.${++cliRuns}.db`),
  };
  const { stdout, stderr } = await run('/usr/bin/time', args, { maxBuffer: 16 << 20, env });
  const [user, sys] = stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  // The summary's last line: `200 hosts: 200 ok in 2.1 s ...`.
  const ok = Number(/ (\d+) ok\b/.exec(stdout.trim().split('\n').at(-1) ?? '')?.[1] ?? NaN);
  return { wallMs: performance.now() - t0, cpuMs: (user! + sys!) * 1000, ok };
}

// ---- the driver: the fleet, the rounds, the table -----------------------------------------------

async function main(): Promise<void> {
  const { startFleet } = await import('../test/harness/fleet.js');
  const { RACY_MS } = await import('../src/ssh/file-cache.js');
  const hosts = Number(arg('hosts') ?? 200);
  const width = Number(arg('width') ?? 64);
  const rounds = Number(arg('rounds') ?? 3);
  const before = arg('before');
  const withCli = !process.argv.includes('--no-cli');
  process.stderr.write(`starting ${hosts} harness hosts...\n`);
  const fleet = await startFleet({ healthy: hosts });
  try {
    const spec: FleetFile = {
      user: fleet.user,
      key: fleet.clientKeyPath,
      sshConfig: fleet.sshConfigPath,
      hosts: fleet.healthy.map((h) => ({ name: h.name, address: h.address, port: h.port })),
      width,
    };
    const file = join(fleet.dir, 'bench-fleet.json');
    writeFileSync(file, JSON.stringify(spec));
    await new Promise((r) => setTimeout(r, RACY_MS + 100));

    const cases: Array<[string, () => Promise<Sample>]> = [['raw ssh2', () => inChild('raw', file)]];
    if (before) cases.push(['library before', () => inChild(before, file)]);
    cases.push(['library', () => inChild(ROOT, file)]);
    if (withCli && before) cases.push(['CLI before', () => cli(before, spec, fleet.dir)]);
    if (withCli) cases.push(['CLI', () => cli(ROOT, spec, fleet.dir)]);

    const samples = new Map<string, Sample[]>(cases.map(([name]) => [name, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const [name, measure] of cases) {
        const s = await measure();
        samples.get(name)!.push(s);
        const ok = Number.isNaN(s.ok) ? '' : ` (${s.ok}/${hosts} ok)`;
        process.stderr.write(
          `round ${round} ${name}: ${s.wallMs.toFixed(0)} ms wall, ${(s.cpuMs / hosts).toFixed(2)} ms CPU a host${ok}\n`,
        );
      }
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    const cpu = (name: string) => median(samples.get(name)!.map((s) => s.cpuMs)) / hosts;
    const wall = (name: string) => median(samples.get(name)!.map((s) => s.wallMs));
    console.log(
      `\ncold \`true\` on ${hosts} hosts at fan-out ${width}, median of ${rounds} (load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}):`,
    );
    console.log(`${'case'.padEnd(16)} ${'CPU ms/host'.padStart(12)} ${'wall ms'.padStart(8)}  CPU vs raw`);
    for (const [name] of cases) {
      console.log(
        `${name.padEnd(16)} ${cpu(name).toFixed(2).padStart(12)} ${wall(name).toFixed(0).padStart(8)}  ${(cpu(name) / cpu('raw ssh2')).toFixed(2)}×`,
      );
    }
    if (before) {
      console.log(`library CPU after/before: ${(cpu('library') / cpu('library before')).toFixed(2)}×`);
      if (withCli) console.log(`CLI CPU after/before: ${(cpu('CLI') / cpu('CLI before')).toFixed(2)}×`);
    }
  } finally {
    await fleet.stop();
  }
}

const clientAt = process.argv.indexOf('--client');
if (clientAt >= 0) await client(process.argv[clientAt + 1]!, process.argv[clientAt + 2]!);
else await main();
