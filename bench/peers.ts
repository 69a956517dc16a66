// Benchmark: fleetsh against the tools operators use for the same jobs (pdsh/pdcp, ClusterShell's
// clush, pssh's parallel-ssh/parallel-scp, Ansible ad-hoc), on one harness fleet of real OpenSSH sshd
// hosts on loopback, in one run, at the same fan-out. The scenarios are the performance issue's:
//
//   cold   `echo ok` on every host over new connections, curve25519-sha256 on all (fleetsh's own
//          default; `KexAlgorithms curve25519-sha256` for the OpenSSH-based peers), and Ansible
//          (`-m command`, forks = fan-out). The same runs give the client CPU scenario.
//   kex    the same peers with OpenSSH's default key exchange (sntrup761x25519), beside the cold rows
//   warm   10 fan-outs in a row: the peers through ssh ControlMaster/ControlPersist (masters opened by
//          an unmeasured run, their CPU counted); fleetsh's CLI through `fleetsh agent` when the
//          build has one (else 10 plain CLI runs), again with the agent on persistent shells
//          (FLEETSH_AGENT_PERSISTENT_SHELL=1), and the library with pooled connections
//   cli-openssh: fleetsh over its OpenSSH transport (the system ssh, one ControlMaster a host, on
//          the peers' curve25519 ssh_config): `fleetsh run --transport openssh` cold, 10 such runs
//          (each starts and stops its masters), and the library keeping its masters (warm)
//   loud   1 MiB of stdout a host (each host's own: its address, then a 1 MiB base64 file)
//   copy   a 1 MiB file to every host: `fleetsh copy` (and through the agent), the library's
//          upload, pdcp, clush --copy, parallel-scp, ansible -m copy
//
// Every run is checked (bench/peers/output-check.ts): each host's output is read back from the
// tool's stdout and hashed, every host's answer counted, a copied file's SHA-256 compared at its
// destination. A run that is not correct makes its row FAILED with the reason, and that row takes no
// part in a ratio. Measured per run (bench/peers/measure.ts): wall, the CPU of the tool and its
// children, whole-machine CPU, peak RSS of the process tree and of its largest process. Each row is
// the median of --reps runs, the tools' order rotated each round; a row is not run again once its
// runs add up to --rep-budget seconds. The tables (bench/peers/report.ts) give the rows, then each
// scenario as fleetsh / best peer against its target (bench/peers/targets.ts); --markdown FILE writes
// them. The command lines are in bench/peers/tools.ts, the scenarios' runs in bench/peers/cases.ts.
//
// `--tools cli-openssh`: fleetsh over its OpenSSH transport (the system ssh, one ControlMaster a
// host, on the peers' curve25519 ssh_config): `fleetsh run --transport openssh` in cold, and in warm
// 10 such runs (each starts and stops its masters) and the library keeping its masters.
//
//   npm run build                  # the CLI runs from dist/ (the bundle)
//   npx tsx bench/peers.ts [--hosts 200] [--fanout 64] [--reps 3] [--rep-budget 40] [--timeout 300]
//                          [--cases cold,kex,warm,loud,copy] [--tools lib,cli,cli-openssh,pdsh,clush,pssh,ansible]
//                          [--commands 10] [--warm-hosts N] [--loud-hosts N] [--loud-bytes 1048576]
//                          [--copy-bytes 1048576] [--cli dist/cli/bin.cjs] [--markdown FILE]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { $ } from '../src/index.js';
import { startFleet, type TestFleet } from '../test/harness/fleet.js';
import {
  coldVariants,
  copyVariants,
  loudVariants,
  useContext,
  warmVariants,
  type Variant,
} from './peers/cases.js';
import { HAVE_TIME, killMarked } from './peers/measure.js';
import { scenarios } from './peers/targets.js';
import { failureOf, measurementTable, scenarioTable, type Row } from './peers/report.js';
import { hasAgent, PEERS, stopAgent, type Setup } from './peers/tools.js';

// ---- arguments --------------------------------------------------------------------------------------

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string, fallback: number) => Number(arg(name) ?? fallback);
const list = (name: string, fallback: string[]) => arg(name)?.split(',') ?? fallback;

const HOSTS = num('hosts', 200);
const FANOUT = num('fanout', 64);
const REPS = num('reps', 3);
const REP_BUDGET_S = num('rep-budget', 40);
const TIMEOUT_S = num('timeout', 300);
const COMMANDS = num('commands', 10);
const WARM_HOSTS = Math.min(HOSTS, num('warm-hosts', HOSTS));
const LOUD_HOSTS = Math.min(HOSTS, num('loud-hosts', HOSTS));
const LOUD_BYTES = num('loud-bytes', 1 << 20);
const COPY_BYTES = num('copy-bytes', 1 << 20);
const CASES = list('cases', ['cold', 'kex', 'warm', 'loud', 'copy']);
const TOOLS = list('tools', ['lib', 'cli', 'cli-openssh', 'pdsh', 'clush', 'pssh', 'ansible']);
const MARKDOWN = arg('markdown');
const ROOT = join(import.meta.dirname, '..');
const CLI = resolve(arg('cli') ?? join(ROOT, 'dist', 'cli', 'bin.cjs'));
const KEX = 'curve25519-sha256';
for (const [what, given, known] of [
  ['cases', CASES, ['cold', 'kex', 'warm', 'loud', 'copy']],
  ['tools', TOOLS, ['lib', 'cli', 'cli-openssh', 'pdsh', 'clush', 'pssh', 'ansible']],
] as const) {
  const unknown = given.filter((x) => !(known as readonly string[]).includes(x));
  if (unknown.length) {
    console.error(`--${what}: unknown ${unknown.join(', ')} (known: ${known.join(',')})`);
    process.exit(64);
  }
}

// ---- main ---------------------------------------------------------------------------------------------

function rotate<T>(xs: T[], by: number): T[] {
  const k = xs.length ? by % xs.length : 0;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

async function main(): Promise<number> {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: build first with npm run build`);
    return 1;
  }
  const started = new Date();
  const t0 = performance.now();
  const load0 = loadavg();
  const scratch = mkdtempSync(join(tmpdir(), 'fsp-'));
  // Ctrl-C reaches the bench, not the tool it runs (its own process group), nor ssh masters or an
  // agent: every process this bench started names the scratch folder in its command line (-F, the
  // time file, a master's socket) or its environment (XDG_RUNTIME_DIR, ANSIBLE_*). The harness
  // stops the hosts itself.
  const onSignal = (signal: NodeJS.Signals) => {
    killMarked(scratch);
    rmSync(scratch, { recursive: true, force: true });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stderr.write(`starting ${HOSTS} harness hosts...\n`);
  const tf: TestFleet = await startFleet({ healthy: HOSTS }).catch((e: unknown) => {
    rmSync(scratch, { recursive: true, force: true });
    throw e;
  });
  let s: Setup | undefined;
  let agent = false;
  const rows: Row[] = [];
  let kexLines: string[] = [];
  try {
    // ssh_configs for the OpenSSH-based peers: the harness's host blocks, then defaults for all hosts
    const harness = readFileSync(tf.sshConfigPath, 'utf8');
    const common = [`Host *`, `  BatchMode yes`, `  ConnectTimeout 10`];
    const config = (name: string, lines: string[]) => {
      const file = join(scratch, name);
      writeFileSync(file, [harness, ...common, ...lines, ''].join('\n'));
      return file;
    };
    const cmDir = join(scratch, 'cm');
    mkdirSync(join(cmDir, 'm'), { recursive: true });
    const xdg = join(scratch, 'xdg');
    mkdirSync(xdg, { mode: 0o700 });
    s = {
      scratch,
      fanout: FANOUT,
      cli: CLI,
      harnessConfig: tf.sshConfigPath,
      curveConfig: config('ssh_config', [
        `  KexAlgorithms ${KEX}`,
        `  ControlMaster no`,
        `  ControlPath none`,
      ]),
      defaultKexConfig: config('ssh_config.kex', [`  ControlMaster no`, `  ControlPath none`]),
      cmConfig: config('ssh_config.cm', [
        `  KexAlgorithms ${KEX}`,
        `  ControlMaster auto`,
        `  ControlPath ${cmDir}/m/%C`,
        `  ControlPersist 300`,
      ]),
      cmDir,
      inventory: join(scratch, 'inventory.ini'),
      xdg,
      controlDirs: 0,
    };
    writeFileSync(
      s.inventory,
      [
        '[all]',
        ...tf.healthy.map((h) => h.name),
        '[all:vars]',
        `ansible_ssh_common_args='-F ${s.curveConfig}'`,
        'ansible_python_interpreter=/usr/bin/python3',
        '',
      ].join('\n'),
    );
    writeFileSync(join(scratch, 'ansible.cfg'), '[defaults]\n');
    agent = hasAgent(s);
    useContext({
      tf,
      s,
      agent,
      root: ROOT,
      hosts: HOSTS,
      fanout: FANOUT,
      timeoutS: TIMEOUT_S,
      commands: COMMANDS,
      warmHosts: WARM_HOSTS,
      loudHosts: LOUD_HOSTS,
      loudBytes: LOUD_BYTES,
      copyBytes: COPY_BYTES,
    });

    const kexOf = (file: string) =>
      spawnSync('ssh', ['-F', file, '-G', tf.healthy[0]!.name], { encoding: 'utf8' })
        .stdout.split('\n')
        .find((l) => l.startsWith('kexalgorithms '))
        ?.slice('kexalgorithms '.length) ?? '?';
    kexLines = [
      `fleetsh (ssh2): curve25519-sha256, its first choice.`,
      `Peers (\`ssh -G\` on the generated ssh_config): forced \`${kexOf(s.curveConfig)}\`; default \`${kexOf(s.defaultKexConfig).split(',')[0]}\` first.`,
      `fleetsh agent: ${agent ? 'present: the warm and copy rows go through it' : 'absent in this build: the warm CLI row is 10 plain runs, and the agent rows are not measured'}.`,
    ];
    for (const l of kexLines) console.log(l);

    const makers: Array<[string[], () => Variant[]]> = [
      [['cold', 'kex'], coldVariants],
      [['warm'], warmVariants],
      [['loud'], loudVariants],
      [['copy'], copyVariants],
    ];

    // load modules and JIT before measuring
    await $.fleet(
      tf.healthy.slice(0, Math.min(4, HOSTS)).map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath })),
    ).run`true`;
    await $.close();

    for (const [keys, make] of makers) {
      if (!keys.some((k) => CASES.includes(k))) continue;
      const variants = make().filter((v) => CASES.includes(v.caseKey) && TOOLS.includes(v.toolKey));
      const caseRows = variants.map((v) => {
        const p = v.peer ? PEERS[v.peer]! : undefined;
        const row: Row = {
          caseName: v.caseName,
          id: v.id,
          tool: v.tool,
          kind: v.kind,
          tags: v.tags,
          hosts: v.hosts,
          fanouts: v.fanouts,
          samples: [],
          missing: p && !p.path ? `not installed (apt-get install ${p.apt})` : undefined,
        };
        return { v, row };
      });
      rows.push(...caseRows.map((c) => c.row));
      for (let rep = 0; rep < REPS; rep++) {
        for (const { v, row } of rotate(caseRows, rep)) {
          if (row.missing || row.samples.some((x) => x.problems.length)) continue; // FAILED already
          if (row.samples.reduce((t, x) => t + x.wallMs, 0) > REP_BUDGET_S * 1000) continue;
          const x = await v.run();
          row.samples.push(x);
          process.stderr.write(
            `[${((performance.now() - t0) / 1000).toFixed(0)} s] ${v.caseName} | ${v.tool} | round ${rep + 1}: ` +
              `wall ${(x.wallMs / 1000).toFixed(2)} s, CPU ${(x.cpuMs / 1000).toFixed(2)} s, machine ${(x.machineCpuMs / 1000).toFixed(2)} s` +
              `${x.treeRssKb ? `, RSS ${(x.treeRssKb / 1024).toFixed(0)} MiB` : ''}, ${x.ok}/${x.expected} ok` +
              `${x.problems.length ? `, FAILED: ${x.problems.join('; ')}` : ''}\n`,
          );
        }
      }
    }
  } finally {
    killMarked(s?.cmDir ?? scratch);
    if (agent && s) stopAgent(s);
    killMarked(scratch);
    await $.close().catch(() => {});
    await tf.stop();
    rmSync(scratch, { recursive: true, force: true });
  }

  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).stdout.trim();
  const load1 = loadavg();
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const md = [
    `Run of \`npx tsx bench/peers.ts ${process.argv.slice(2).join(' ')}\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ` +
      `commit ${commit || '?'}: ${HOSTS} harness hosts (OpenSSH sshd on loopback), fan-out ${FANOUT}, ` +
      `up to ${REPS} round${REPS === 1 ? '' : 's'} with the tools' order rotated each round (a row stops after ${REP_BUDGET_S} s of runs), ` +
      `${cpus().length} CPUs, load average (1, 5, 15 min) ${la(load0)} at the start and ${la(load1)} at the end; ` +
      `${((performance.now() - t0) / 1000).toFixed(0)} s in all.`,
    '',
    ...kexLines.map((l) => `- ${l}`),
    `- Client CPU: user+sys of the tool and the processes it waited for${HAVE_TIME ? ' (/usr/bin/time)' : ' (not measured: install `time`)'}, plus ssh masters and the agent; the library's rows: the bench's own process. Machine CPU: busy time of all CPUs (/proc/stat), sshd included. RSS tree: the tool's processes summed, sampled every 50 ms; RSS max: its largest process.`,
    '',
    ...measurementTable(rows),
    '',
    ...scenarioTable(scenarios(agent, COMMANDS), rows),
    '',
    'Ratios are fleetsh / best peer with a correct run (below 1: fleetsh is faster). Adaptive concurrency (≥ 90% of the best fixed fan-out) is measured by its own bench, not here.',
  ];
  console.log('\n' + md.join('\n'));
  if (MARKDOWN) writeFileSync(MARKDOWN, md.join('\n') + '\n');
  return rows.some((r) => !r.missing && failureOf(r)) ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error(e);
}
process.exit(code);
