// Benchmark: a 1 MiB file to every host, cold (each run a new process and new connections), on one
// harness fleet of real OpenSSH sshd hosts, in one run, at the same fan-out width: `fleetsh copy`
// (the default path: one SFTP session a host, no command), `fleetsh copy --verify` (plus the
// read-back: one checksum command a host), `fleetsh copy --transport openssh` (the system ssh), optionally another build's CLI (`--baseline-cli`, e.g.
// the previous release's dist/cli/bin.cjs), the library in-process (also with the server's fsync
// ignored, to show what fsync costs; no option of fleetsh does that), and the peers: ClusterShell's
// `clush --copy`, `pdcp -R ssh` (it runs pdcp on each host: on loopback the hosts are this machine)
// and pssh's `parallel-scp`. A peer that is not installed is skipped (apt-get install -y
// clustershell pdsh pssh).
//
// Wall time and CPU (user+sys of the tool's process tree, from /usr/bin/time; in-process for the
// library), median of --reps interleaved runs; ratios are fleetsh / the best peer (< 1: fleetsh is
// faster). The target of the performance issue: `fleetsh copy` ≤ 0.85 × the best peer.
//
//   npm run build
//   npx tsx bench/copy.ts [--hosts 200] [--fanout 64] [--reps 3] [--mib 1] [--timeout 180]
//                         [--baseline-cli /path/to/dist/cli/bin.cjs]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { $ } from '../src/index.js';
import { SftpSession } from '../src/ssh/sftp-session.js';
import { startFleet, type TestFleet } from '../test/harness/fleet.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const HOSTS = Number(arg('hosts', '200'));
const FANOUT = Number(arg('fanout', '64'));
const REPS = Number(arg('reps', '3'));
const MIB = Number(arg('mib', '1'));
const TIMEOUT_S = Number(arg('timeout', '180'));
const BASELINE_CLI = arg('baseline-cli', '');
const KEX = 'curve25519-sha256';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'bin.cjs');
const TIME = '/usr/bin/time';

interface Sample {
  wallMs: number;
  cpuMs: number;
  error?: string;
}

interface Cmd {
  file: string;
  args: string[];
  env?: Record<string, string>;
}

let scratch = '';
let destDir = '';

/** One external run to completion: wall here, user+sys of its process tree from /usr/bin/time. */
function runExternal(cmd: Cmd): Promise<Sample> {
  const timeFile = join(scratch, `time.${randomBytes(4).toString('hex')}`);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(TIME, ['-f', '%e %U %S', '-o', timeFile, cmd.file, ...cmd.args], {
      cwd: scratch, // no ./fleetsh.yml
      env: { ...process.env, ...cmd.env },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // its own process group, killed whole on timeout
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, TIMEOUT_S * 1000);
    child.on('close', (rc) => {
      clearTimeout(timer);
      const wallMs = performance.now() - t0;
      let cpuMs = NaN;
      try {
        const last = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
        cpuMs = (last[1]! + last[2]!) * 1000;
      } catch {
        // killed before time wrote anything
      }
      rmSync(timeFile, { force: true });
      const error = timedOut
        ? `timed out after ${TIMEOUT_S} s`
        : rc === 0
          ? undefined
          : `exit ${rc}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
      resolve({ wallMs, cpuMs, error });
    });
  });
}

async function runInProcess(fn: () => Promise<string | undefined>): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let error: string | undefined;
  try {
    error = await fn();
  } catch (e) {
    error = String(e);
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, error };
}

const which = (bin: string) =>
  spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim() || undefined;

interface Variant {
  tool: string;
  peer: boolean;
  missing?: string;
  run(): Promise<Sample>;
}

function variants(tf: TestFleet, payload: string, peerConfig: string): Variant[] {
  const hosts = tf.healthy.slice(0, HOSTS).map((h) => h.name);
  const dest = join(destDir, 'payload');
  const hostsFile = join(scratch, 'hosts');
  writeFileSync(hostsFile, hosts.join('\n') + '\n');
  const cli = (bin: string, extra: string[] = []): Cmd => ({
    file: process.execPath,
    args: [
      bin,
      'copy',
      '-w',
      hosts.join(','),
      '-f',
      String(FANOUT),
      '-F',
      tf.sshConfigPath,
      '--no-progress',
      ...extra,
      payload,
      dest,
    ],
    // Cold: each run connects itself. Without this, the CLI starts the per-user agent on demand and
    // every later run (and another build's CLI) copies over its kept connections.
    env: { FLEETSH_STATE_FILE: join(scratch, 'last-run.json'), FLEETSH_NO_AGENT: '1' },
  });
  const peer = (tool: string, bin: string, apt: string, cmd: (path: string) => Cmd): Variant => {
    const path = which(bin);
    return {
      tool,
      peer: true,
      missing: path ? undefined : `not installed (apt-get install -y ${apt})`,
      run: () => runExternal(cmd(path!)),
    };
  };
  const v: Variant[] = [
    { tool: 'fleetsh copy', peer: false, run: () => runExternal(cli(CLI)) },
    { tool: 'fleetsh copy --verify', peer: false, run: () => runExternal(cli(CLI, ['--verify'])) },
  ];
  // The OpenSSH transport: the system ssh, one ControlMaster a host, SFTP as `ssh -s sftp` on it
  // (with the peers' key exchange: the config's own default costs ~7x the CPU here).
  const opensshConfig = join(scratch, 'ssh_config.openssh');
  writeFileSync(opensshConfig, `${readFileSync(tf.sshConfigPath, 'utf8')}\nHost *\n  KexAlgorithms ${KEX}\n`);
  v.push({
    tool: 'fleetsh copy --transport openssh',
    peer: false,
    run: () => runExternal(cli(CLI, ['-F', opensshConfig, '--transport', 'openssh'])),
  });
  if (BASELINE_CLI)
    v.push({
      tool: `baseline copy (${BASELINE_CLI})`,
      peer: false,
      run: () => runExternal(cli(BASELINE_CLI)),
    });
  const lib = async () => {
    const targets = hosts.map((host) => ({ host, sshConfig: tf.sshConfigPath }));
    const r = await $.fleet(targets, { concurrency: FANOUT }).upload(payload, dest);
    await $.close();
    return r.counts.ok === hosts.length ? undefined : `${r.counts.ok}/${hosts.length} ok`;
  };
  v.push(
    { tool: 'fleetsh lib upload (in-process)', peer: false, run: () => runInProcess(lib) },
    {
      // What fsync costs: the same upload with the server's fsync@openssh.com ignored (bench only).
      tool: 'fleetsh lib upload, no fsync (bench only)',
      peer: false,
      run: async () => {
        const supports = SftpSession.prototype.supports;
        SftpSession.prototype.supports = function (name: string) {
          return name !== 'fsync@openssh.com' && supports.call(this, name);
        };
        try {
          return await runInProcess(lib);
        } finally {
          SftpSession.prototype.supports = supports;
        }
      },
    },
    peer('clush --copy', 'clush', 'clustershell', (clush) => ({
      file: clush,
      args: [
        '-f',
        String(FANOUT),
        '-w',
        hosts.join(','),
        `--options=-F ${peerConfig}`,
        '--copy',
        payload,
        '--dest',
        dest,
      ],
    })),
    peer('pdcp -R ssh', 'pdcp', 'pdsh', (pdcp) => ({
      file: pdcp,
      args: ['-R', 'ssh', '-f', String(FANOUT), '-w', hosts.join(','), payload, dest],
      env: { PDSH_SSH_ARGS_APPEND: `-F ${peerConfig}` },
    })),
    peer('parallel-scp', 'parallel-scp', 'pssh', (pscp) => ({
      file: pscp,
      args: ['-p', String(FANOUT), '-t', '0', '-h', hostsFile, '-x', `-F ${peerConfig}`, payload, dest],
    })),
  );
  return v;
}

const median = (v: number[]) => {
  const s = v.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = s.length / 2;
  return s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<number> {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: build first with npm run build`);
    return 1;
  }
  if (!existsSync(TIME)) {
    console.error(`${TIME} is missing: apt-get install -y time`);
    return 1;
  }
  const load0 = loadavg();
  scratch = mkdtempSync(join(tmpdir(), 'fleetsh-bench-copy-'));
  process.stderr.write(`starting ${HOSTS} harness hosts...\n`);
  const tf = await startFleet({ healthy: HOSTS });
  const rows: Array<{ v: Variant; samples: Sample[] }> = [];
  try {
    const peerConfig = join(scratch, 'ssh_config');
    writeFileSync(
      peerConfig,
      [
        readFileSync(tf.sshConfigPath, 'utf8'),
        `Host *`,
        `  KexAlgorithms ${KEX}`, // ssh2's first choice: the same key exchange for everyone
        `  BatchMode yes`,
        `  ConnectTimeout 10`,
        `  ControlMaster no`,
        `  ControlPath none`,
        '',
      ].join('\n'),
    );
    const payload = join(scratch, 'payload.bin');
    writeFileSync(payload, randomBytes(MIB * 1024 * 1024));
    destDir = join(scratch, 'dest');
    mkdirSync(destDir);
    // Load modules and JIT before measuring.
    await $.fleet(
      tf.healthy.slice(0, 4).map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath })),
      { concurrency: FANOUT },
    ).run`true`;
    await $.close();
    for (const v of variants(tf, payload, peerConfig)) rows.push({ v, samples: [] });
    for (let rep = 1; rep <= REPS; rep++) {
      for (const row of rows) {
        if (row.v.missing) continue;
        const s = await row.v.run();
        rmSync(destDir, { recursive: true, force: true });
        mkdirSync(destDir);
        row.samples.push(s);
        process.stderr.write(
          `${row.v.tool} | rep ${rep}: wall ${(s.wallMs / 1000).toFixed(2)} s, CPU ${(s.cpuMs / 1000).toFixed(2)} s${s.error ? `, ERROR ${s.error}` : ''}\n`,
        );
      }
    }
  } finally {
    await $.close().catch(() => {});
    await tf.stop();
    rmSync(scratch, { recursive: true, force: true });
  }

  const wall = (r: (typeof rows)[number]) =>
    median(r.samples.filter((s) => !s.error).map((s) => s.wallMs)) / 1000;
  const cpu = (r: (typeof rows)[number]) =>
    median(r.samples.filter((s) => !s.error).map((s) => s.cpuMs)) / 1000;
  const peers = rows.filter((r) => r.v.peer && !r.v.missing && Number.isFinite(wall(r)));
  const best = peers.sort((a, b) => wall(a) - wall(b))[0];
  const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
  console.log(
    `\n${MIB} MiB to ${HOSTS} hosts, fan-out ${FANOUT}, median of ${REPS}; load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `${'tool'.padEnd(44)} ${'wall s'.padStart(7)} ${'CPU s'.padStart(7)}  ${'wall / best peer'.padStart(16)}  errors`,
  );
  for (const r of rows) {
    if (r.v.missing) {
      console.log(`${r.v.tool.padEnd(44)} ${r.v.missing}`);
      continue;
    }
    const ratio = best ? wall(r) / wall(best) : NaN;
    const errors = r.samples.filter((s) => s.error).length;
    console.log(
      `${r.v.tool.padEnd(44)} ${fmt(wall(r)).padStart(7)} ${fmt(cpu(r)).padStart(7)}  ${`${fmt(ratio)}×`.padStart(16)}  ${errors || ''}`,
    );
  }
  if (best) console.log(`best peer: ${best.v.tool}; target for fleetsh copy: ≤ 0.85×`);
  return rows.some((r) => r.samples.some((s) => s.error)) ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error(e);
}
process.exit(code);
