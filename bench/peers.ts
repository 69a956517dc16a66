// Benchmark: fleetsh (library in-process, and the CLI) against the tools operators use for the same
// job: pdsh, ClusterShell's clush, pssh (Debian: parallel-ssh / parallel-scp) and Ansible ad-hoc, on
// one harness fleet of real OpenSSH sshd hosts, in one run, at the same fan-out width.
//
//   1. fanout: `true` on every host (cold connections)
//   2. warm:   10 commands per host in a row. fleetsh's library keeps its connections (pooled) between
//              runs; the CLI and the peers start again each time, plainly or, for the OpenSSH-based
//              peers, through ssh ControlMaster/ControlPersist (a generated ssh_config; the masters are
//              opened by an unmeasured first run and their CPU is counted with the peer's)
//   3. copy:   a 1 MiB file to every host (fleet.upload / `fleetsh copy`, clush --copy, parallel-scp,
//              ansible -m copy; pdcp is left out: it needs pdsh installed on the hosts)
//   4. loud:   `head -c 20000000 /dev/zero | base64` (~27 MB of output) on each of 4 hosts: wall, CPU
//              and the controller's peak RSS
//
// Wall time, controller CPU (user+sys of the tool's process tree, from /usr/bin/time, plus ssh
// masters), median of --reps runs with the tools interleaved; ratios are fleetsh / peer (< 1: fleetsh
// is faster or cheaper). A peer that is not installed is reported as such and skipped. To keep a run
// near 10 minutes, a row is not run again once its runs add up to --rep-budget seconds (Ansible's
// rows take 50-100 s each at 100 hosts): the table says how many runs each median is of.
//
//   npm run build                    # the CLI runs from dist/ (the bundle)
//   npx tsx bench/peers.ts [--hosts 100] [--fanout 32] [--reps 3] [--rep-budget 25] [--warm-hosts 8]
//                          [--commands 10] [--loud-hosts 4] [--loud-bytes 20000000] [--timeout 180]
//                          [--cases fanout,warm,copy,loud] [--tools lib,cli,pdsh,clush,pssh,ansible]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { $ } from '../src/index.js';
import { startFleet, type TestFleet } from '../test/harness/fleet.js';

// ---- arguments --------------------------------------------------------------------------------------

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
function listArg(name: string, fallback: string[]): string[] {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]!.split(',') : fallback;
}
const HOSTS = arg('hosts', 100);
const FANOUT = arg('fanout', 32);
const REPS = arg('reps', 3);
const WARM_HOSTS = Math.min(HOSTS, arg('warm-hosts', 8));
const COMMANDS = arg('commands', 10);
const LOUD_HOSTS = Math.min(HOSTS, arg('loud-hosts', 4));
const LOUD_BYTES = arg('loud-bytes', 20_000_000);
const REP_BUDGET_S = arg('rep-budget', 25); // no more runs of a row once its runs add up to this
const TIMEOUT_S = arg('timeout', 180);
const CASES = listArg('cases', ['fanout', 'warm', 'copy', 'loud']);
const TOOLS = listArg('tools', ['lib', 'cli', 'pdsh', 'clush', 'pssh', 'ansible']);
const LOUD_COMMAND = `head -c ${LOUD_BYTES} /dev/zero | base64`;
const KEX = 'curve25519-sha256';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'bin.cjs');
const TIME = '/usr/bin/time';
const HAVE_TIME = existsSync(TIME);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

// ---- measuring ----------------------------------------------------------------------------------------

interface Sample {
  wallMs: number;
  cpuMs: number;
  maxRssKb?: number;
  error?: string; // the run did not succeed on every host
}

/** utime+stime (ms) of the live processes whose command line mentions `marker` (ssh ControlMaster muxes). */
function markedCpuMs(marker: string): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
      ticks += Number(f[11]) + Number(f[12]); // fields 14, 15: utime, stime
    } catch {
      // gone meanwhile
    }
  }
  return (ticks * 1000) / CLK_TCK;
}

/** Pids of the live processes whose command line mentions `marker` (ssh masters this bench started). */
function markedPids(marker: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** cutime+cstime (ms) of this process: the children it has waited for (the fallback without `time`). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK; // fields 16, 17
}

interface Cmd {
  file: string;
  args: string[];
  env?: Record<string, string>;
}

/**
 * Runs one external command to completion (stdout discarded) and measures its process tree: wall
 * time here, user+sys and peak RSS from /usr/bin/time (or the children fields of /proc/self/stat).
 */
function runExternal(cmd: Cmd, ok: (rc: number | null) => boolean = (rc) => rc === 0): Promise<Sample> {
  const timeFile = join(scratch, `time.${randomBytes(4).toString('hex')}`);
  const [file, args] = HAVE_TIME
    ? [TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd.file, ...cmd.args]]
    : [cmd.file, cmd.args];
  const cpu0 = HAVE_TIME ? 0 : childrenCpuMs();
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: scratch, // no ./fleetsh.yml, no ansible.cfg
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
      let cpuMs = 0;
      let maxRssKb: number | undefined;
      if (HAVE_TIME) {
        try {
          // "Command exited with non-zero status N" may come first
          const last = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
          cpuMs = (last[1]! + last[2]!) * 1000;
          maxRssKb = last[3];
        } catch {
          // killed before time wrote anything
        }
        rmSync(timeFile, { force: true });
      } else {
        cpuMs = childrenCpuMs() - cpu0;
      }
      const error = timedOut
        ? `timed out after ${TIMEOUT_S} s`
        : ok(rc)
          ? undefined
          : `exit ${rc}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
      resolve({ wallMs, cpuMs, maxRssKb, error });
    });
  });
}

/** In-process: wall and this process's CPU around fn (the library's handshakes and crypto are all here). */
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

// ---- the tools ----------------------------------------------------------------------------------------

let scratch = '';
let tf: TestFleet;
let peerConfig = ''; // the harness ssh_config + curve25519 kex, BatchMode, no ControlMaster
let cmConfig = ''; // the same with ControlMaster auto / ControlPersist
let cmDir = '';
let inventory = '';
let payload = '';
let destDir = '';

const which = (bin: string) =>
  spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim() || undefined;

interface Peer {
  name: string;
  bin: string;
  apt: string;
  path?: string;
}
const PEERS: Record<string, Peer> = {
  pdsh: { name: 'pdsh', bin: 'pdsh', apt: 'pdsh' },
  clush: { name: 'clush', bin: 'clush', apt: 'clustershell' },
  pssh: { name: 'pssh', bin: 'parallel-ssh', apt: 'pssh' },
  pscp: { name: 'pscp', bin: 'parallel-scp', apt: 'pssh' },
  ansible: { name: 'ansible', bin: 'ansible', apt: 'ansible' },
  'ansible-playbook': { name: 'ansible-playbook', bin: 'ansible-playbook', apt: 'ansible' },
};
for (const p of Object.values(PEERS)) p.path = which(p.bin);

const hostNames = (n: number) => tf.healthy.slice(0, n).map((h) => h.name);

function ansibleEnv(cp: 'default' | 'off', controlDir: string): Record<string, string> {
  return {
    ANSIBLE_HOST_KEY_CHECKING: 'False', // known_hosts is set up in the ssh_config anyway
    ANSIBLE_PIPELINING: 'True', // one ssh session per module instead of put + run + clean up
    ANSIBLE_HOME: join(scratch, 'ansible-home'),
    ANSIBLE_LOCAL_TEMP: join(scratch, 'ansible-local'),
    ANSIBLE_REMOTE_TMP: join(scratch, 'ansible-remote'),
    ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
    ANSIBLE_NOCOLOR: 'True',
    ANSIBLE_DEPRECATION_WARNINGS: 'False',
    ANSIBLE_SYSTEM_WARNINGS: 'False',
    ANSIBLE_CONFIG: join(scratch, 'ansible.cfg'), // empty: ansible's defaults, not ./ansible.cfg or ~/.ansible.cfg
    // ansible's default ssh_args are "-C -o ControlMaster=auto -o ControlPersist=60s"
    ...(cp === 'off' ? { ANSIBLE_SSH_ARGS: '-o ControlMaster=no -o ControlPath=none' } : {}),
  };
}

/** The command line of a peer for a job; `cm`: through ControlMaster (the generated cm ssh_config). */
function peerCmd(
  peer: string,
  job: 'run' | 'copy',
  hosts: string[],
  what: string,
  opts: { cm?: boolean; controlDir?: string } = {},
): Cmd {
  const config = opts.cm ? cmConfig : peerConfig;
  const list = hosts.join(',');
  const hostsFile = join(scratch, `hosts.${hosts.length}`);
  if (!existsSync(hostsFile)) writeFileSync(hostsFile, hosts.join('\n') + '\n');
  switch (peer) {
    case 'pdsh': // -S: exit with the largest remote exit status
      return {
        file: PEERS.pdsh!.path!,
        args: ['-S', '-R', 'ssh', '-f', String(FANOUT), '-w', list, what],
        env: { PDSH_SSH_ARGS_APPEND: `-F ${config}` },
      };
    case 'clush':
      return {
        file: PEERS.clush!.path!,
        args:
          job === 'copy'
            ? [
                '-f',
                String(FANOUT),
                '-w',
                list,
                `--options=-F ${config}`,
                '--copy',
                what,
                '--dest',
                join(destDir, 'payload'),
              ]
            : ['-f', String(FANOUT), '-w', list, `--options=-F ${config}`, what],
      };
    case 'pssh': // -t 0: no timeout (default 60 s); -i: print the output (buffered per host)
      return job === 'copy'
        ? {
            file: PEERS.pscp!.path!,
            args: [
              '-p',
              String(FANOUT),
              '-t',
              '0',
              '-h',
              hostsFile,
              '-x',
              `-F ${config}`,
              what,
              join(destDir, 'payload'),
            ],
          }
        : {
            file: PEERS.pssh!.path!,
            args: ['-p', String(FANOUT), '-t', '0', '-i', '-h', hostsFile, '-x', `-F ${config}`, what],
          };
    case 'ansible': {
      const pattern = hosts.length === tf.healthy.length ? 'all' : hosts.join(':');
      const common = [pattern, '-i', inventory, '-f', String(FANOUT), '-o'];
      const env = ansibleEnv(opts.cm === false ? 'off' : 'default', opts.controlDir ?? join(cmDir, 'a'));
      return job === 'copy'
        ? {
            file: PEERS.ansible!.path!,
            // a path per host: on this shared filesystem ansible would otherwise find the file already
            // there (same checksum) and skip the transfer
            args: [...common, '-m', 'copy', '-a', `src=${what} dest=${destDir}/{{ inventory_hostname }}`],
            env,
          }
        : { file: PEERS.ansible!.path!, args: [...common, '-m', 'shell', '-a', what], env };
    }
  }
  throw new Error(`unknown peer ${peer}`);
}

function cliCmd(job: 'run' | 'copy', hosts: string[], what: string): Cmd {
  const common = ['-w', hosts.join(','), '-f', String(FANOUT), '-F', tf.sshConfigPath, '--no-progress'];
  return {
    file: process.execPath,
    args:
      job === 'copy'
        ? [CLI, 'copy', ...common, what, join(destDir, 'payload')]
        : [CLI, 'run', ...common, '--', what],
    env: { FLEETSH_STATE_FILE: join(scratch, 'last-run.json') },
  };
}

const targets = (hosts: string[]) => hosts.map((host) => ({ host, sshConfig: tf.sshConfigPath }));
const fleetOpts = () => ({ concurrency: FANOUT, deadline: `${TIMEOUT_S}s` });
function notAllOk(report: { counts: { ok: number } }, n: number): string | undefined {
  return report.counts.ok === n ? undefined : `${report.counts.ok}/${n} ok`;
}

/** Stops the ssh masters (and anything else) this bench left running, by pid. */
function killMarked(): void {
  for (const pid of markedPids(scratch)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
}

/** Runs `cmd` `times` times in a row, summing wall and CPU; masters' CPU (processes under cmDir) added. */
async function repeated(times: number, cmd: Cmd, cmMarker?: string): Promise<Sample> {
  const m0 = cmMarker ? markedCpuMs(cmMarker) : 0;
  const total: Sample = { wallMs: 0, cpuMs: 0, maxRssKb: 0 };
  for (let i = 0; i < times; i++) {
    const s = await runExternal(cmd);
    total.wallMs += s.wallMs;
    total.cpuMs += s.cpuMs;
    total.maxRssKb = Math.max(total.maxRssKb!, s.maxRssKb ?? 0);
    total.error ??= s.error;
    if (s.error) break;
  }
  if (cmMarker) total.cpuMs += markedCpuMs(cmMarker) - m0;
  return total;
}

// ---- the cases ----------------------------------------------------------------------------------------

interface Variant {
  tool: string; // the row's label
  kind: 'lib' | 'cli' | 'peer';
  peer?: string;
  run: () => Promise<Sample>;
}

function fanoutVariants(): Variant[] {
  const hosts = hostNames(HOSTS);
  const v: Variant[] = [
    {
      tool: 'fleetsh lib',
      kind: 'lib',
      run: () =>
        runInProcess(async () => {
          const report = await $.fleet(targets(hosts), fleetOpts()).run`true`;
          await $.close(); // cold connections each run
          return notAllOk(report, hosts.length);
        }),
    },
    { tool: 'fleetsh CLI', kind: 'cli', run: () => runExternal(cliCmd('run', hosts, 'true')) },
  ];
  for (const p of ['pdsh', 'clush', 'pssh'])
    v.push({ tool: p, kind: 'peer', peer: p, run: () => runExternal(peerCmd(p, 'run', hosts, 'true')) });
  v.push({
    tool: 'ansible (ControlPersist)',
    kind: 'peer',
    peer: 'ansible',
    run: () => ansibleCold(hosts, 'run', 'true'),
  });
  return v;
}

let controlDirs = 0;
/** One ansible run with its default ControlPersist, in a fresh control dir; the masters' CPU counted, then stopped. */
async function ansibleCold(hosts: string[], job: 'run' | 'copy', what: string): Promise<Sample> {
  const controlDir = join(cmDir, `a${++controlDirs}`);
  const m0 = markedCpuMs(controlDir);
  const s = await runExternal(peerCmd('ansible', job, hosts, what, { controlDir }));
  s.cpuMs += markedCpuMs(controlDir) - m0;
  killMarked();
  return s;
}

function warmVariants(): Variant[] {
  const hosts = hostNames(WARM_HOSTS);
  const v: Variant[] = [
    {
      tool: `fleetsh lib (pooled)`,
      kind: 'lib',
      run: async () => {
        await $.fleet(targets(hosts), fleetOpts()).run`true`; // opens the connections, not measured
        const s = await runInProcess(async () => {
          for (let i = 0; i < COMMANDS; i++) {
            const report = await $.fleet(targets(hosts), fleetOpts()).run`true`;
            const bad = notAllOk(report, hosts.length);
            if (bad) return bad;
          }
        });
        await $.close();
        return s;
      },
    },
    {
      tool: `fleetsh CLI (${COMMANDS} cold runs)`,
      kind: 'cli',
      run: () => repeated(COMMANDS, cliCmd('run', hosts, 'true')),
    },
  ];
  for (const p of ['pdsh', 'clush', 'pssh']) {
    v.push({
      tool: `${p} (plain)`,
      kind: 'peer',
      peer: p,
      run: () => repeated(COMMANDS, peerCmd(p, 'run', hosts, 'true')),
    });
    v.push({
      tool: `${p} (ControlMaster)`,
      kind: 'peer',
      peer: p,
      run: async () => {
        const cmd = peerCmd(p, 'run', hosts, 'true', { cm: true });
        await runExternal(cmd); // opens the masters, not measured
        const s = await repeated(COMMANDS, cmd, join(cmDir, 'm'));
        killMarked();
        return s;
      },
    });
  }
  // Ansible's best equivalent of 10 commands in a row: one playbook of 10 tasks (one start-up of
  // ansible, the tasks host by host in lock step), with ControlMaster off, or through the ControlPersist
  // masters (its default) that an unmeasured first run of the playbook opened.
  const playbook = join(scratch, 'warm.yml');
  writeFileSync(
    playbook,
    [
      `- hosts: all`,
      `  gather_facts: false`,
      `  tasks:`,
      ...Array(COMMANDS).fill(`    - command: 'true'`),
      '',
    ].join('\n'),
  );
  const play = (cm: boolean, controlDir: string): Cmd => ({
    file: PEERS['ansible-playbook']!.path!,
    args: ['-i', inventory, '-f', String(FANOUT), '-l', hosts.join(':'), playbook],
    env: ansibleEnv(cm ? 'default' : 'off', controlDir),
  });
  v.push({
    tool: `ansible-playbook, ${COMMANDS} tasks (ControlMaster off)`,
    kind: 'peer',
    peer: 'ansible-playbook',
    run: () => runExternal(play(false, join(cmDir, 'none'))),
  });
  v.push({
    tool: `ansible-playbook, ${COMMANDS} tasks (ControlPersist)`,
    kind: 'peer',
    peer: 'ansible-playbook',
    run: async () => {
      const controlDir = join(cmDir, `a${++controlDirs}`);
      const cmd = play(true, controlDir);
      await runExternal(cmd); // opens the masters, not measured
      const s = await repeated(1, cmd, controlDir);
      killMarked();
      return s;
    },
  });
  return v;
}

function copyVariants(): Variant[] {
  const hosts = hostNames(HOSTS);
  const clean = () => {
    rmSync(destDir, { recursive: true, force: true });
    mkdirSync(destDir, { recursive: true });
  };
  const after = async (s: Promise<Sample>) => {
    const r = await s;
    clean();
    return r;
  };
  return [
    {
      tool: 'fleetsh lib (upload)',
      kind: 'lib',
      run: () =>
        after(
          runInProcess(async () => {
            const report = await $.fleet(targets(hosts), fleetOpts()).upload(
              payload,
              join(destDir, 'payload'),
            );
            await $.close();
            return notAllOk(report, hosts.length);
          }),
        ),
    },
    {
      tool: 'fleetsh CLI (copy)',
      kind: 'cli',
      run: () => after(runExternal(cliCmd('copy', hosts, payload))),
    },
    {
      tool: 'clush --copy',
      kind: 'peer',
      peer: 'clush',
      run: () => after(runExternal(peerCmd('clush', 'copy', hosts, payload))),
    },
    {
      tool: 'parallel-scp',
      kind: 'peer',
      peer: 'pscp',
      run: () => after(runExternal(peerCmd('pssh', 'copy', hosts, payload))),
    },
    {
      tool: 'ansible -m copy (ControlPersist)',
      kind: 'peer',
      peer: 'ansible',
      run: () => after(ansibleCold(hosts, 'copy', payload)),
    },
  ];
}

function loudVariants(): Variant[] {
  const hosts = hostNames(LOUD_HOSTS);
  const v: Variant[] = [
    {
      tool: 'fleetsh lib (own process)',
      kind: 'lib',
      run: async () => {
        const r = spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            join(import.meta.dirname, 'peers', 'lib-loud.ts'),
            tf.sshConfigPath,
            String(FANOUT),
            LOUD_COMMAND,
            ...hosts,
          ],
          {
            cwd: ROOT,
            encoding: 'utf8',
            timeout: TIMEOUT_S * 1000,
            killSignal: 'SIGKILL',
            maxBuffer: 1 << 20,
          },
        );
        try {
          const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
          return {
            wallMs: j.wallMs,
            cpuMs: j.cpuMs,
            maxRssKb: j.maxRssKb,
            error: j.ok === j.total ? undefined : `${j.ok}/${j.total} ok`,
          };
        } catch {
          return {
            wallMs: NaN,
            cpuMs: NaN,
            error: `lib-loud failed: ${r.error ?? ''} ${r.stderr?.slice(-300)}`,
          };
        }
      },
    },
    { tool: 'fleetsh CLI', kind: 'cli', run: () => runExternal(cliCmd('run', hosts, LOUD_COMMAND)) },
  ];
  for (const p of ['pdsh', 'clush', 'pssh'])
    v.push({
      tool: p === 'pssh' ? 'pssh -i' : p,
      kind: 'peer',
      peer: p,
      run: () => runExternal(peerCmd(p, 'run', hosts, LOUD_COMMAND)),
    });
  v.push({
    tool: 'ansible -m shell (ControlPersist)',
    kind: 'peer',
    peer: 'ansible',
    run: () => ansibleCold(hosts, 'run', LOUD_COMMAND),
  });
  return v;
}

// ---- main ---------------------------------------------------------------------------------------------

const median = (v: number[]) => {
  const s = v.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = s.length / 2;
  return s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
};

interface Row {
  caseName: string;
  v: Variant;
  samples: Sample[];
  missing?: string;
}

function toolSelected(v: Variant): boolean {
  if (v.kind === 'lib') return TOOLS.includes('lib');
  if (v.kind === 'cli') return TOOLS.includes('cli');
  return TOOLS.includes(v.peer === 'pscp' ? 'pssh' : v.peer === 'ansible-playbook' ? 'ansible' : v.peer!);
}

async function main(): Promise<number> {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: build first with npm run build`);
    return 1;
  }
  const t0 = performance.now();
  const load0 = loadavg();
  scratch = mkdtempSync(join(tmpdir(), 'fsp-'));
  process.stderr.write(`starting ${HOSTS} harness hosts...\n`);
  tf = await startFleet({ healthy: HOSTS });
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    // ssh_config for the OpenSSH-based peers: the harness's host blocks, then defaults for all hosts
    const base = readFileSync(tf.sshConfigPath, 'utf8');
    const common = [`Host *`, `  KexAlgorithms ${KEX}`, `  BatchMode yes`, `  ConnectTimeout 10`];
    peerConfig = join(scratch, 'ssh_config');
    writeFileSync(peerConfig, [base, ...common, `  ControlMaster no`, `  ControlPath none`, ''].join('\n'));
    cmDir = join(scratch, 'cm');
    mkdirSync(join(cmDir, 'm'), { recursive: true });
    cmConfig = join(scratch, 'ssh_config.cm');
    writeFileSync(
      cmConfig,
      [
        base,
        ...common,
        `  ControlMaster auto`,
        `  ControlPath ${cmDir}/m/%C`,
        `  ControlPersist 300`,
        '',
      ].join('\n'),
    );
    inventory = join(scratch, 'inventory.ini');
    writeFileSync(
      inventory,
      [
        '[all]',
        ...tf.healthy.map((h) => h.name),
        '[all:vars]',
        `ansible_ssh_common_args='-F ${peerConfig}'`,
        'ansible_python_interpreter=/usr/bin/python3',
        '',
      ].join('\n'),
    );
    payload = join(scratch, 'payload.bin');
    writeFileSync(payload, randomBytes(1 << 20));
    writeFileSync(join(scratch, 'ansible.cfg'), '[defaults]\n');
    destDir = join(scratch, 'dest');
    mkdirSync(destDir, { recursive: true });

    const kex = spawnSync('ssh', ['-F', peerConfig, '-G', tf.healthy[0]!.name], { encoding: 'utf8' })
      .stdout.split('\n')
      .find((l) => l.startsWith('kexalgorithms '));
    console.log(
      `kex: fleetsh (ssh2) curve25519-sha256 (ssh2's first choice); OpenSSH-based peers (pdsh -R ssh, clush, pssh, ansible) ` +
        `through a generated ssh_config: ${kex ?? '?'}`,
    );

    const all: Array<[string, () => Variant[]]> = [
      [`1. fan-out \`true\`, ${HOSTS} hosts`, fanoutVariants],
      [`2. warm: ${COMMANDS} × \`true\` on ${WARM_HOSTS} hosts`, warmVariants],
      [`3. copy 1 MiB to ${HOSTS} hosts`, copyVariants],
      [`4. loud: ${(LOUD_BYTES / 1e6).toFixed(0)} MB | base64 on ${LOUD_HOSTS} hosts`, loudVariants],
    ];
    const chosen = all.filter((_, i) => CASES.includes(['fanout', 'warm', 'copy', 'loud'][i]!));

    // load modules and JIT before measuring
    await $.fleet(targets(hostNames(Math.min(4, HOSTS))), fleetOpts()).run`true`;
    await $.close();

    for (const [caseName, make] of chosen) {
      const variants = make().filter(toolSelected);
      const caseRows = variants.map((v): Row => {
        const p = v.peer ? PEERS[v.peer]! : undefined;
        return {
          caseName,
          v,
          samples: [],
          missing: p && !p.path ? `not installed (apt-get install ${p.apt})` : undefined,
        };
      });
      rows.push(...caseRows);
      for (let rep = 1; rep <= REPS; rep++) {
        for (const row of caseRows) {
          if (row.missing || row.samples.some((s) => s.error?.startsWith('timed out'))) continue;
          if (row.samples.reduce((t, s) => t + s.wallMs, 0) > REP_BUDGET_S * 1000) continue;
          const s = await row.v.run();
          row.samples.push(s);
          process.stderr.write(
            `[${((performance.now() - t0) / 1000).toFixed(0)} s] ${caseName} | ${row.v.tool} | rep ${rep}: ` +
              `wall ${(s.wallMs / 1000).toFixed(2)} s, CPU ${(s.cpuMs / 1000).toFixed(2)} s` +
              `${s.maxRssKb ? `, RSS ${(s.maxRssKb / 1024).toFixed(0)} MiB` : ''}${s.error ? `, ERROR ${s.error}` : ''}\n`,
          );
          if (s.error) notes.push(`${caseName} | ${row.v.tool} | rep ${rep}: ${s.error}`);
        }
      }
    }
  } finally {
    killMarked();
    await $.close().catch(() => {});
    await tf.stop();
    rmSync(scratch, { recursive: true, force: true });
  }

  // ---- the table ----
  const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const header = [
    'case',
    'tool',
    'runs',
    'wall s',
    'CPU s',
    'RSS MiB',
    'lib/peer wall',
    'lib/peer CPU',
    'CLI/peer wall',
    'CLI/peer CPU',
  ];
  const table: string[][] = [];
  const summary: string[] = [];
  for (const caseName of [...new Set(rows.map((r) => r.caseName))]) {
    const inCase = rows.filter((r) => r.caseName === caseName);
    const med = (r: Row | undefined) => ({
      wall: r ? median(r.samples.map((s) => s.wallMs)) / 1000 : NaN,
      cpu: r ? median(r.samples.map((s) => s.cpuMs)) / 1000 : NaN,
      rss: r ? median(r.samples.map((s) => s.maxRssKb ?? NaN)) / 1024 : NaN,
    });
    const lib = med(inCase.find((r) => r.v.kind === 'lib'));
    const cli = med(inCase.find((r) => r.v.kind === 'cli'));
    for (const r of inCase) {
      const m = med(r);
      const failed = r.samples.some((s) => s.error) ? ' (!)' : '';
      if (r.missing) {
        table.push([caseName, `${r.v.tool}: ${r.missing}`, '0', '', '', '', '', '', '', '']);
        continue;
      }
      const peer = r.v.kind === 'peer';
      if (r.samples.some((s) => s.error?.startsWith('timed out'))) {
        // the peer did not finish: its wall time is a lower bound, its CPU unknown
        const lower = (x: number) => (Number.isFinite(x) ? `< ${fmt(x / TIMEOUT_S)}` : '-');
        table.push([
          caseName,
          r.v.tool + ' (!)',
          String(r.samples.length),
          `> ${TIMEOUT_S}`,
          '-',
          '-',
          peer ? lower(lib.wall) : '',
          '',
          peer ? lower(cli.wall) : '',
          '',
        ]);
        continue;
      }
      table.push([
        caseName,
        r.v.tool + failed,
        String(r.samples.length),
        fmt(m.wall),
        fmt(m.cpu),
        fmt(m.rss, 0),
        peer ? fmt(lib.wall / m.wall) : '',
        peer ? fmt(lib.cpu / m.cpu) : '',
        peer ? fmt(cli.wall / m.wall) : '',
        peer ? fmt(cli.cpu / m.cpu) : '',
      ]);
    }
    const peers = inCase.filter(
      (r) => r.v.kind === 'peer' && !r.missing && r.samples.length && !r.samples.some((s) => s.error),
    );
    if (peers.length) {
      const best = (key: 'wall' | 'cpu') =>
        peers.map((r) => ({ r, m: med(r) })).sort((a, b) => a.m[key] - b.m[key])[0]!;
      const bw = best('wall');
      const bc = best('cpu');
      summary.push(
        `${caseName}: fastest peer ${bw.r.v.tool} ${fmt(bw.m.wall)} s (lib ${fmt(lib.wall / bw.m.wall)}×, CLI ${fmt(cli.wall / bw.m.wall)}×); ` +
          `cheapest peer ${bc.r.v.tool} ${fmt(bc.m.cpu)} s CPU (lib ${fmt(lib.cpu / bc.m.cpu)}×, CLI ${fmt(cli.cpu / bc.m.cpu)}×)`,
      );
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  console.log(
    `\n${HOSTS} harness hosts (OpenSSH sshd on loopback), fan-out ${FANOUT}, median of ${REPS}; ${cpus().length} CPUs; ` +
      `load average at start ${load0.map((l) => l.toFixed(2)).join(' ')}; CPU = user+sys of the controller's ` +
      `process tree${HAVE_TIME ? ' (/usr/bin/time)' : ' (/proc/self/stat cutime+cstime)'} plus ssh masters; RSS = largest ` +
      `single process of the tree (the library's: its own process); ratios fleetsh/peer, < 1 is better for fleetsh\n`,
  );
  console.log(line(header));
  console.log(
    '|' + widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|',
  );
  for (const r of table) console.log(line(r));
  console.log('\nsummary:');
  for (const s of summary) console.log(`  ${s}`);
  if (notes.length) {
    console.log('\nruns that did not succeed on every host (marked (!)):');
    for (const n of notes) console.log(`  ${n}`);
  }
  console.log(
    `\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s; load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  return notes.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error(e);
}
process.exit(code);
