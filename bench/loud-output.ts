// Loud output: `fleetsh run` on N harness hosts that each print about 1 MiB (`head -c 1048576
// /dev/urandom | base64`, 1.38 MB, past the 1 MiB cap kept per host): wall time, the CLI's peak
// RSS (from /usr/bin/time, the process tree's largest process) and the bytes it printed on stdout,
// for this worktree's build and for a baseline build (default /work/main/dist) in the same run,
// interleaved, with this tree's --gather and its run of `true` (the floor), and the peers that are installed: clush (live lines, as
// `fleetsh run` prints them), clush -b (gathered, as --gather), pdsh, and pssh -i (each host's
// output when it ends). The printed bytes show whether the output was printed once (about 1.0× what
// the hosts sent, plus the `host: ` prefixes) or twice (live lines, then the outputs again).
//
//   npm run build
//   npx tsx bench/loud-output.ts [--hosts 100] [--fanout 64] [--reps 2] [--bytes 1048576]
//                                [--baseline /work/main/dist] [--peers clush,clush-b,pdsh,pssh]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFleet } from '../test/harness/fleet.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const HOSTS = Number(arg('hosts', '100'));
const FANOUT = Number(arg('fanout', '64'));
const REPS = Number(arg('reps', '2'));
const BYTES = Number(arg('bytes', '1048576'));
const BASELINE = resolve(arg('baseline', '/work/main/dist'));
const CURRENT = resolve(import.meta.dirname, '..', 'dist');
const PEERS = arg('peers', 'clush,clush-b,pdsh,pssh').split(',');
const COMMAND = `head -c ${BYTES} /dev/urandom | base64`;

interface Sample {
  wallS: number;
  /** User and system CPU of the tool and its children (ssh clients for the OpenSSH-based peers). */
  cpuS: number;
  rssMiB: number;
  stdoutBytes: number;
  code: number | null;
  stderrTail: string;
}

/** Runs a command under /usr/bin/time; counts its stdout bytes as they come (none kept). */
function measure(file: string, args: string[], env: Record<string, string> = {}): Promise<Sample> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', file, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdoutBytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdoutBytes += d.length));
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('latin1')).slice(-4096); // /usr/bin/time's figure comes last
    });
    child.on('error', fail);
    child.on('close', (code) => {
      // clush -b draws its progress on stderr without line ends: the figures are the last three words.
      const m = /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(stderr);
      if (!m) return fail(new Error(`${file}: no figures from /usr/bin/time in ${stderr}`));
      const cpuS = Number(m[1]) + Number(m[2]);
      const stderrTail = stderr
        .slice(0, m.index)
        .split('\n')
        .filter((l) => l.trim() !== '' && !l.startsWith('Command exited with'))
        .slice(-3)
        .join('\n');
      done({
        wallS: (performance.now() - t0) / 1000,
        cpuS,
        rssMiB: Number(m[3]) / 1024,
        stdoutBytes,
        code,
        stderrTail,
      });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  for (const dist of [BASELINE, CURRENT])
    if (!existsSync(join(dist, 'cli', 'bin.cjs'))) throw new Error(`no build in ${dist}: npm run build`);
  const fleet = await startFleet({ healthy: HOSTS });
  const scratch = mkdtempSync(join(tmpdir(), 'fleetsh-bench-loud-'));
  try {
    const names = fleet.healthy.map((h) => h.name);
    const fleetshArgs = (dist: string) => [
      join(dist, 'cli', 'bin.cjs'),
      'run',
      '-F',
      fleet.sshConfigPath,
      '-w',
      names.join(','),
      '-f',
      String(FANOUT),
      '--no-progress',
      '--',
      COMMAND,
    ];
    const env = { FLEETSH_STATE_FILE: join(scratch, 'last-run.json'), NO_COLOR: '1' };
    const sshOpts = `-F ${fleet.sshConfigPath} -o KexAlgorithms=curve25519-sha256 -o BatchMode=yes`;
    const hostsFile = join(scratch, 'hosts');
    writeFileSync(hostsFile, names.join('\n') + '\n');
    const tools: { name: string; run: () => Promise<Sample> }[] = [
      { name: 'fleetsh (baseline)', run: () => measure(process.execPath, fleetshArgs(BASELINE), env) },
      { name: 'fleetsh (this tree)', run: () => measure(process.execPath, fleetshArgs(CURRENT), env) },
      {
        // The floor: the same run with nothing printed (Node, the bundle, 64 connections at once).
        name: 'fleetsh, `true`',
        run: () => measure(process.execPath, [...fleetshArgs(CURRENT).slice(0, -1), 'true'], env),
      },
      {
        name: 'fleetsh --gather',
        run: () =>
          measure(process.execPath, [...fleetshArgs(CURRENT).slice(0, -2), '--gather', '--', COMMAND], env),
      },
    ];
    const peer = (name: string, file: string, args: string[], penv: Record<string, string> = {}) => {
      if (PEERS.includes(name.replace(' ', '')) && existsSync(file))
        tools.push({ name, run: () => measure(file, args, penv) });
    };
    const list = names.join(',');
    peer('clush', '/usr/bin/clush', ['-f', String(FANOUT), '-w', list, `--options=${sshOpts}`, COMMAND]);
    peer('clush -b', '/usr/bin/clush', [
      '-b',
      '-f',
      String(FANOUT),
      '-w',
      list,
      `--options=${sshOpts}`,
      COMMAND,
    ]);
    peer('pdsh', '/usr/bin/pdsh', ['-R', 'ssh', '-f', String(FANOUT), '-w', list, COMMAND], {
      PDSH_SSH_ARGS_APPEND: sshOpts,
    });
    // -i: each host's output printed when it ends (pssh keeps it whole until then); -t 0: no timeout.
    peer('pssh', '/usr/bin/parallel-ssh', [
      '-p',
      String(FANOUT),
      '-t',
      '0',
      '-i',
      '-h',
      hostsFile,
      '-x',
      sshOpts,
      COMMAND,
    ]);
    const samples = new Map<string, Sample[]>(tools.map((t) => [t.name, []]));
    for (let rep = 0; rep < REPS; rep++)
      for (const t of tools) {
        const s = await t.run();
        // A run under load may lose hosts (connect timeouts): its figures stay, with its exit status.
        if (s.code !== 0) console.error(`${t.name} exited with ${s.code}: ${s.stderrTail}`);
        samples.get(t.name)!.push(s);
      }
    const sent = HOSTS * Math.ceil(BYTES / 3) * 4 * (1 + 1 / 76); // base64 with its 76-column lines
    console.log(
      `${HOSTS} hosts × ${COMMAND} (≈${(sent / HOSTS / 1e6).toFixed(2)} MB each), fan-out ${FANOUT}, ` +
        `median of ${REPS}; load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} on a shared machine`,
    );
    console.log('tool                  wall       CPU   peak RSS   stdout / output sent');
    const row = (name: string) => {
      const s = samples.get(name)!;
      return {
        wall: median(s.map((x) => x.wallS)),
        cpu: median(s.map((x) => x.cpuS)),
        rss: median(s.map((x) => x.rssMiB)),
        printed: median(s.map((x) => x.stdoutBytes)) / sent,
        exits: [...new Set(s.map((x) => x.code))].join(','),
      };
    };
    for (const t of tools) {
      const r = row(t.name);
      console.log(
        `${t.name.padEnd(20)} ${r.wall.toFixed(2).padStart(6)} s ${r.cpu.toFixed(2).padStart(6)} s ` +
          `${r.rss.toFixed(0).padStart(6)} MiB ${r.printed.toFixed(2).padStart(10)}×` +
          (r.exits === '0' ? '' : `   exit ${r.exits}`),
      );
    }
    const ratio = (label: string, a: ReturnType<typeof row>, b: ReturnType<typeof row>) =>
      console.log(
        `${label}:`.padEnd(24) +
          `wall ${(a.wall / b.wall).toFixed(2)}×, CPU ${(a.cpu / b.cpu).toFixed(2)}×, peak RSS ${(a.rss / b.rss).toFixed(2)}×`,
      );
    const after = row('fleetsh (this tree)');
    ratio('this tree / baseline', after, row('fleetsh (baseline)'));
    for (const name of ['clush', 'pdsh', 'pssh'])
      if (samples.has(name)) ratio(`this tree / ${name}`, after, row(name));
    if (samples.has('clush -b')) ratio('--gather / clush -b', row('fleetsh --gather'), row('clush -b'));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await fleet.stop();
  }
}

await main();
