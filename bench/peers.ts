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
//          build has one (else 10 plain CLI runs), and the library with pooled connections
//   loud   1 MiB of stdout a host (each host's own: its address, then a 1 MiB base64 file)
//   copy   a 1 MiB file to every host: `fleetsh copy` (and through the agent), the library's
//          upload, pdcp, clush --copy, parallel-scp, ansible -m copy
//
// Every run is checked: each host's output is read back from the tool's stdout and hashed (and a
// copied file's SHA-256 read on the hosts); a run that is not correct makes its row FAILED with the
// reason, and it takes no part in a ratio. Measured per run (bench/peers/measure.ts): wall, the CPU
// of the tool and its children, whole-machine CPU, peak RSS of the process tree and of its largest
// process. Each row is the median of --reps runs, the tools' order rotated each round; a row is not
// run again once its runs add up to --rep-budget seconds. The tables (bench/peers/report.ts) give the
// rows, then each scenario as fleetsh / best peer against its target; --markdown FILE writes them.
//
//   npm run build                  # the CLI runs from dist/ (the bundle)
//   npx tsx bench/peers.ts [--hosts 200] [--fanout 64] [--reps 3] [--rep-budget 40] [--timeout 300]
//                          [--cases cold,kex,warm,loud,copy] [--tools lib,cli,pdsh,clush,pssh,ansible]
//                          [--commands 10] [--warm-hosts N] [--loud-hosts N] [--loud-bytes 1048576]
//                          [--copy-bytes 1048576] [--cli dist/cli/bin.cjs] [--markdown FILE]
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { $ } from '../src/index.js';
import { startFleet, type TestFleet } from '../test/harness/fleet.js';
import {
  HAVE_TIME,
  killMarked,
  machineBusyMs,
  markedCpuMs,
  runExternal,
  runInProcess,
  type Cmd,
  type ExternalRun,
} from './peers/measure.js';
import {
  checkOutput,
  countAnsibleSuccess,
  countPsshSuccess,
  expectedOf,
  type Expected,
  type OutputFormat,
} from './peers/output-check.js';
import {
  failureOf,
  measurementTable,
  printedTwice,
  scenarioTable,
  statsOf,
  type Row,
  type Sample,
  type Scenario,
} from './peers/report.js';
import {
  ansibleCopy,
  ansibleRun,
  cliCopy,
  cliRun,
  hasAgent,
  peerCopy,
  peerRun,
  PEERS,
  stopAgent,
  type Setup,
} from './peers/tools.js';

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
const TOOLS = list('tools', ['lib', 'cli', 'pdsh', 'clush', 'pssh', 'ansible']);
const MARKDOWN = arg('markdown');
const ROOT = join(import.meta.dirname, '..');
const CLI = resolve(arg('cli') ?? join(ROOT, 'dist', 'cli', 'bin.cjs'));
const COLD_COMMAND = 'echo ok'; // `true` that prints: every host's answer can be counted
const KEX = 'curve25519-sha256';

// ---- set up in main -----------------------------------------------------------------------------------

let tf: TestFleet;
let s: Setup;
let agent = false;
let runs = 0; // numbers each run's scratch files
const hostNames = (n: number) => tf.healthy.slice(0, n).map((h) => h.name);
const targets = (hosts: string[]) => hosts.map((host) => ({ host, sshConfig: tf.sshConfigPath }));
const fleetOpts = () => ({ concurrency: FANOUT, deadline: `${TIMEOUT_S}s` });
const scratchFile = (what: string) => join(s.scratch, `${what}.${++runs}`);

// ---- one run, checked ---------------------------------------------------------------------------------

interface Verdict {
  ok: number;
  problems: string[];
  extraBytes?: number;
  payloadBytes?: number;
}

/** Runs an external tool, then `check` reads what it printed or wrote. */
async function external(
  cmd: Cmd,
  expected: number,
  check: (run: ExternalRun, stdoutFile: string) => Verdict,
): Promise<Sample> {
  const stdoutFile = scratchFile('stdout');
  const run = await runExternal(cmd, { stdoutFile, cwd: s.scratch, timeoutS: TIMEOUT_S });
  let v: Verdict;
  if (run.timedOut) v = { ok: 0, problems: [`timed out after ${TIMEOUT_S} s`] };
  else {
    try {
      v = check(run, stdoutFile);
    } catch (e) {
      v = { ok: 0, problems: [`its output could not be read: ${String(e)}`] };
    }
    if (run.rc !== 0)
      v.problems.unshift(
        `exit ${run.rc}: ${run.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`,
      );
  }
  rmSync(stdoutFile, { force: true });
  return { ...run, expected, ...v };
}

/** Output read back per host (see output-check.ts) against what each host sends. */
function outputVerdict(file: string, format: OutputFormat, want: Map<string, Expected>): Verdict {
  const c = checkOutput(file, format, want);
  let payloadBytes = 0;
  for (const e of want.values()) payloadBytes += e.bytes;
  return { ok: c.complete, problems: c.problems, extraBytes: c.extraBytes, payloadBytes };
}

/** A tool run `times` times in a row (warm): sums of wall and CPU, the worst correctness. */
async function repeated(times: number, one: () => Promise<Sample>): Promise<Sample> {
  let total: Sample | undefined;
  for (let i = 0; i < times; i++) {
    const x = await one();
    if (!total) total = { ...x, problems: [...x.problems] };
    else {
      total.wallMs += x.wallMs;
      total.cpuMs += x.cpuMs;
      total.machineCpuMs += x.machineCpuMs;
      total.treeRssKb = Math.max(total.treeRssKb ?? 0, x.treeRssKb ?? 0) || undefined;
      total.maxRssKb = Math.max(total.maxRssKb ?? 0, x.maxRssKb ?? 0) || undefined;
      total.ok = Math.min(total.ok, x.ok);
      if (!total.problems.length) total.problems.push(...x.problems.map((p) => `fan-out ${i + 1}: ${p}`));
    }
    if (x.problems.length) break;
  }
  return total!;
}

/** CPU of processes outside the measured tree (ssh masters, the agent) over fn, added to its sample. */
async function withMarked(marker: string, fn: () => Promise<Sample>): Promise<Sample> {
  const c0 = markedCpuMs(marker);
  const x = await fn();
  x.cpuMs += markedCpuMs(marker) - c0;
  return x;
}

// ---- the scenarios' variants --------------------------------------------------------------------------

interface Variant {
  caseKey: string; // which --cases entry selects it
  caseName: string;
  id: string;
  tool: string;
  kind: Row['kind'];
  tags: string[];
  /** --tools entry that selects it, and the peer binary it needs. */
  toolKey: string;
  peer?: string;
  hosts: number;
  fanouts: number;
  run: () => Promise<Sample>;
}

const FORMAT: Record<'pdsh' | 'clush' | 'pssh', OutputFormat> = {
  pdsh: 'prefix',
  clush: 'prefix',
  pssh: 'pssh',
};
const PEER_LABEL: Record<'pdsh' | 'clush' | 'pssh', string> = {
  pdsh: 'pdsh',
  clush: 'clush',
  pssh: 'parallel-ssh -i',
};

function coldVariants(): Variant[] {
  const hosts = hostNames(HOSTS);
  const want = new Map(hosts.map((h) => [h, expectedOf(Buffer.from('ok\n'))]));
  const caseName = `cold \`${COLD_COMMAND}\`, ${HOSTS} hosts`;
  const base = { caseName, hosts: HOSTS, fanouts: 1 };
  const v: Variant[] = [
    {
      ...base,
      caseKey: 'cold',
      id: 'cold/lib',
      tool: 'fleetsh library',
      kind: 'lib',
      tags: [],
      toolKey: 'lib',
      run: async () => {
        const r = await runInProcess(async () => {
          const report = await $.fleet(targets(hosts), fleetOpts()).run`echo ok`;
          await $.close(); // cold connections each run
          return report;
        });
        const ok = r.value?.hosts.filter((h) => h.status === 'ok' && h.stdout === 'ok\n').length ?? 0;
        const problems = r.error
          ? [r.error]
          : ok === hosts.length
            ? []
            : [`${hosts.length - ok} hosts not ok`];
        return { ...r, ok, expected: hosts.length, problems };
      },
    },
    {
      ...base,
      caseKey: 'cold',
      id: 'cold/cli',
      tool: 'fleetsh run',
      kind: 'cli',
      tags: [],
      toolKey: 'cli',
      run: () =>
        external(cliRun(s, hosts, COLD_COMMAND, false, scratchFile('state')), hosts.length, (_, f) =>
          outputVerdict(f, 'prefix', want),
        ),
    },
  ];
  for (const p of ['pdsh', 'clush', 'pssh'] as const) {
    for (const [caseKey, config, tag, label] of [
      ['cold', s.curveConfig, 'cold-peer', ''],
      ['kex', s.defaultKexConfig, 'kex-peer', ' (default kex)'],
    ] as const)
      v.push({
        ...base,
        caseKey,
        id: `${caseKey}/${p}`,
        tool: PEER_LABEL[p] + label,
        kind: 'peer',
        tags: [tag],
        toolKey: p,
        peer: p,
        run: () =>
          external(peerRun(s, p, hosts, COLD_COMMAND, config), hosts.length, (_, f) =>
            outputVerdict(f, FORMAT[p], want),
          ),
      });
  }
  v.push({
    ...base,
    caseKey: 'cold',
    id: 'cold/ansible',
    tool: 'ansible -m command',
    kind: 'peer',
    tags: ['ansible'],
    toolKey: 'ansible',
    peer: 'ansible',
    run: () => {
      const controlDir = join(s.cmDir, `a${++s.controlDirs}`);
      return withMarked(controlDir, async () => {
        const x = await external(
          ansibleRun(s, hosts, tf.healthy.length, COLD_COMMAND, controlDir),
          hosts.length,
          (_, f) => outputVerdict(f, 'ansible', want),
        );
        return x;
      }).finally(() => killMarked(controlDir));
    },
  });
  return v;
}

function warmVariants(): Variant[] {
  const hosts = hostNames(WARM_HOSTS);
  const want = new Map(hosts.map((h) => [h, expectedOf(Buffer.from('ok\n'))]));
  const caseName = `warm: ${COMMANDS} fan-outs of \`${COLD_COMMAND}\`, ${WARM_HOSTS} hosts`;
  const base = { caseKey: 'warm', caseName, hosts: WARM_HOSTS, fanouts: COMMANDS };
  const cli = (viaAgent: boolean) => () =>
    external(cliRun(s, hosts, COLD_COMMAND, viaAgent, scratchFile('state')), hosts.length, (_, f) =>
      outputVerdict(f, 'prefix', want),
    );
  const v: Variant[] = [
    {
      ...base,
      id: 'warm/lib',
      tool: 'fleetsh library, pooled, one process',
      kind: 'lib',
      tags: [],
      toolKey: 'lib',
      run: async () => {
        await $.fleet(targets(hosts), fleetOpts()).run`true`; // opens the connections, not measured
        const one = async (): Promise<Sample> => {
          const r = await runInProcess(async () => await $.fleet(targets(hosts), fleetOpts()).run`echo ok`);
          const ok = r.value?.hosts.filter((h) => h.status === 'ok' && h.stdout === 'ok\n').length ?? 0;
          const problems = r.error
            ? [r.error]
            : ok === hosts.length
              ? []
              : [`${hosts.length - ok} hosts not ok`];
          return { ...r, ok, expected: hosts.length, problems };
        };
        try {
          return await repeated(COMMANDS, one);
        } finally {
          await $.close();
        }
      },
    },
  ];
  if (agent)
    v.push({
      ...base,
      id: 'warm/agent',
      tool: 'fleetsh run through fleetsh agent',
      kind: 'agent',
      tags: [],
      toolKey: 'cli',
      run: async () => {
        try {
          await cli(true)(); // starts the agent and opens its connections, not measured
          return await withMarked(s.xdg, () => repeated(COMMANDS, cli(true)));
        } finally {
          stopAgent(s);
          killMarked(s.xdg);
        }
      },
    });
  else
    v.push({
      ...base,
      id: 'warm/cli',
      tool: `fleetsh run, no agent in this build (${COMMANDS} cold runs)`,
      kind: 'cli',
      tags: [],
      toolKey: 'cli',
      run: () => repeated(COMMANDS, cli(false)),
    });
  for (const p of ['pdsh', 'clush', 'pssh'] as const)
    v.push({
      ...base,
      id: `warm/${p}`,
      tool: `${PEER_LABEL[p]} (ControlMaster)`,
      kind: 'peer',
      tags: ['cm-peer'],
      toolKey: p,
      peer: p,
      run: async () => {
        const marker = join(s.cmDir, 'm'); // a master's title names its socket there
        const one = () =>
          external(peerRun(s, p, hosts, COLD_COMMAND, s.cmConfig), hosts.length, (_, f) =>
            outputVerdict(f, FORMAT[p], want),
          );
        try {
          const first = await one(); // opens the masters, not measured
          if (first.problems.length) return first;
          return await withMarked(marker, () => repeated(COMMANDS, one));
        } finally {
          killMarked(marker);
        }
      },
    });
  return v;
}

function loudVariants(): Variant[] {
  const hosts = hostNames(LOUD_HOSTS);
  // 1 MiB of base64 lines, and every host prints its own address first, so that no two hosts' outputs
  // are the same (a tool that groups identical outputs cannot fold them into one)
  const body = Buffer.from(
    randomBytes(Math.ceil((LOUD_BYTES * 3) / 4) + 64)
      .toString('base64')
      .match(/.{1,76}/g)!
      .join('\n'),
  ).subarray(0, LOUD_BYTES - 1);
  const bodyFile = join(s.scratch, 'loud.txt');
  writeFileSync(bodyFile, Buffer.concat([body, Buffer.from('\n')]));
  const bodyText = readFileSync(bodyFile);
  const want = new Map(
    tf.healthy
      .slice(0, LOUD_HOSTS)
      .map((h) => [h.name, expectedOf(Buffer.concat([Buffer.from(`${h.address}\n`), bodyText]))]),
  );
  const expectedFile = join(s.scratch, 'loud-expected.json');
  writeFileSync(expectedFile, JSON.stringify(Object.fromEntries(want)));
  const command = `set -- $SSH_CONNECTION; echo $3; exec cat ${bodyFile}`;
  const caseName = `loud: ${(LOUD_BYTES / 1048576).toFixed(1)} MiB of stdout a host, ${LOUD_HOSTS} hosts`;
  const base = { caseKey: 'loud', caseName, hosts: LOUD_HOSTS, fanouts: 1 };
  const v: Variant[] = [
    {
      ...base,
      id: 'loud/lib',
      tool: 'fleetsh library (own process)',
      kind: 'lib',
      tags: [],
      toolKey: 'lib',
      run: async () => {
        const m0 = machineBusyMs();
        const r = spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            join(import.meta.dirname, 'peers', 'lib-loud.ts'),
            tf.sshConfigPath,
            String(FANOUT),
            expectedFile,
            command,
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
        const machineCpuMs = machineBusyMs() - m0;
        try {
          const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
          return {
            wallMs: j.wallMs,
            cpuMs: j.cpuMs,
            machineCpuMs,
            maxRssKb: j.maxRssKb,
            treeRssKb: j.maxRssKb,
            ok: j.complete,
            expected: hosts.length,
            problems: j.complete === hosts.length ? [] : [`output not as sent: ${j.wrong.join('; ')}`],
          };
        } catch {
          const why = `${r.error ?? ''} ${r.stderr?.slice(-300) ?? ''}`.trim();
          return {
            wallMs: NaN,
            cpuMs: NaN,
            machineCpuMs,
            ok: 0,
            expected: hosts.length,
            problems: [`lib-loud failed: ${why}`],
          };
        }
      },
    },
    {
      ...base,
      id: 'loud/cli',
      tool: 'fleetsh run',
      kind: 'cli',
      tags: [],
      toolKey: 'cli',
      run: () =>
        external(cliRun(s, hosts, command, false, scratchFile('state')), hosts.length, (_, f) =>
          outputVerdict(f, 'prefix', want),
        ),
    },
  ];
  for (const p of ['pdsh', 'clush', 'pssh'] as const)
    v.push({
      ...base,
      id: `loud/${p}`,
      tool: PEER_LABEL[p],
      kind: 'peer',
      tags: ['loud-peer'],
      toolKey: p,
      peer: p,
      run: () =>
        external(peerRun(s, p, hosts, command, s.curveConfig), hosts.length, (_, f) =>
          outputVerdict(f, FORMAT[p], want),
        ),
    });
  return v;
}

function copyVariants(): Variant[] {
  const hosts = hostNames(HOSTS);
  const hostSet = new Set(hosts);
  const payload = join(s.scratch, 'payload.bin');
  writeFileSync(payload, randomBytes(COPY_BYTES));
  const sum = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const payloadSum = sum(payload);
  /** A fresh destination folder for each run, so that no earlier run's file can pass the check. */
  const freshDest = () => {
    const dir = join(s.scratch, `dest.${++runs}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  /** The landed file's checksum (every harness host is this machine: one path for all of them). */
  const landed = (file: string): string[] =>
    !existsSync(file)
      ? [`${file} is not there`]
      : sum(file) === payloadSum
        ? []
        : [`${file}: SHA-256 differs from the source`];
  const caseName = `copy ${(COPY_BYTES / 1048576).toFixed(1)} MiB to ${HOSTS} hosts`;
  const base = { caseKey: 'copy', caseName, hosts: HOSTS, fanouts: 1 };
  /** A tool whose stdout says nothing per host: exit 0 and an empty stderr (pdcp and clush exit 0 when a host fails). */
  const quiet = (run: ExternalRun, dest: string): Verdict => {
    const problems = [...landed(dest)];
    if (run.stderr.trim())
      problems.push(`stderr: ${run.stderr.trim().split('\n').slice(0, 2).join(' | ').slice(0, 300)}`);
    return { ok: problems.length ? 0 : hosts.length, problems };
  };
  const cliCopyRun = (viaAgent: boolean) => async (): Promise<Sample> => {
    const dir = freshDest();
    const state = scratchFile('state');
    const x = await external(
      cliCopy(s, hosts, payload, join(dir, 'payload'), viaAgent, state),
      hosts.length,
      () => {
        const sets = JSON.parse(readFileSync(state, 'utf8')).sets as { ok: string[] };
        const ok = sets.ok.filter((h) => hostSet.has(h)).length;
        const problems = landed(join(dir, 'payload'));
        if (ok !== hosts.length) problems.push(`${hosts.length - ok} hosts not ok in the run's state file`);
        return { ok, problems };
      },
    );
    rmSync(dir, { recursive: true, force: true });
    return x;
  };
  const v: Variant[] = [
    {
      ...base,
      id: 'copy/lib',
      tool: 'fleetsh library (upload)',
      kind: 'lib',
      tags: [],
      toolKey: 'lib',
      run: async () => {
        const dir = freshDest();
        const r = await runInProcess(async () => {
          const report = await $.fleet(targets(hosts), fleetOpts()).upload(payload, join(dir, 'payload'));
          await $.close();
          return report;
        });
        const ok = r.value?.counts.ok ?? 0;
        const problems = r.error ? [r.error] : landed(join(dir, 'payload'));
        if (ok !== hosts.length) problems.push(`${hosts.length - ok} hosts not ok`);
        rmSync(dir, { recursive: true, force: true });
        return { ...r, ok, expected: hosts.length, problems };
      },
    },
    {
      ...base,
      id: 'copy/cli',
      tool: 'fleetsh copy',
      kind: 'cli',
      tags: [],
      toolKey: 'cli',
      run: cliCopyRun(false),
    },
  ];
  if (agent)
    v.push({
      ...base,
      id: 'copy/agent',
      tool: 'fleetsh copy through fleetsh agent',
      kind: 'agent',
      tags: [],
      toolKey: 'cli',
      run: async () => {
        try {
          await cliCopyRun(true)(); // starts the agent and opens its connections, not measured
          return await withMarked(s.xdg, cliCopyRun(true));
        } finally {
          stopAgent(s);
          killMarked(s.xdg);
        }
      },
    });
  for (const [p, tool, toolKey] of [
    ['pdcp', 'pdcp', 'pdsh'],
    ['clush', 'clush --copy', 'clush'],
    ['pscp', 'parallel-scp', 'pssh'],
  ] as const)
    v.push({
      ...base,
      id: `copy/${p}`,
      tool,
      kind: 'peer',
      tags: ['copy-peer'],
      toolKey,
      peer: p,
      run: async () => {
        const dir = freshDest();
        const dest = join(dir, 'payload');
        const x = await external(peerCopy(s, p, hosts, payload, dest), hosts.length, (run, f) => {
          if (p !== 'pscp') return quiet(run, dest);
          const ok = countPsshSuccess(f, hostSet);
          const problems = landed(dest);
          if (ok !== hosts.length) problems.push(`${hosts.length - ok} hosts without [SUCCESS]`);
          return { ok, problems };
        });
        rmSync(dir, { recursive: true, force: true });
        return x;
      },
    });
  v.push({
    ...base,
    id: 'copy/ansible',
    tool: 'ansible -m copy',
    kind: 'peer',
    tags: ['ansible-copy'],
    toolKey: 'ansible',
    peer: 'ansible',
    run: async () => {
      const dir = freshDest();
      const controlDir = join(s.cmDir, `a${++s.controlDirs}`);
      try {
        return await withMarked(controlDir, () =>
          external(
            ansibleCopy(s, hosts, tf.healthy.length, payload, dir, controlDir),
            hosts.length,
            (_, f) => {
              const ok = countAnsibleSuccess(f, hostSet);
              const problems = hosts.flatMap((h) => landed(join(dir, h))).slice(0, 3);
              if (ok !== hosts.length) problems.push(`${hosts.length - ok} hosts not CHANGED/SUCCESS`);
              return { ok, problems };
            },
          ),
        );
      } finally {
        killMarked(controlDir);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });
  return v;
}

// ---- the scenarios of the issue, with their targets --------------------------------------------------

function scenarios(): Scenario[] {
  const noAgent = 'this build has no `fleetsh agent`';
  return [
    {
      name: 'cold (wall), curve25519 on all',
      fleet: 'cold/cli',
      lib: 'cold/lib',
      peers: 'cold-peer',
      metric: 'wall',
      target: 0.75,
    },
    {
      name: 'cold, peers with their default kex',
      fleet: 'cold/cli',
      lib: 'cold/lib',
      peers: 'kex-peer',
      metric: 'wall',
      target: 0.25,
    },
    {
      name: 'cold against Ansible',
      fleet: 'cold/cli',
      lib: 'cold/lib',
      peers: 'ansible',
      metric: 'wall',
      target: 0.2,
    },
    {
      name: 'cold, client CPU',
      fleet: 'cold/cli',
      lib: 'cold/lib',
      peers: 'cold-peer',
      metric: 'cpu',
      own: (r) => {
        const ms = (statsOf(r).cpu * 1000) / r.hosts;
        return { text: `≤ 3 ms a host (${ms.toFixed(1)} ms)`, met: ms <= 3 };
      },
    },
    {
      name: `warm: ${COMMANDS} fan-outs, peers on ControlMaster`,
      fleet: agent ? 'warm/agent' : undefined,
      absent: noAgent,
      lib: 'warm/lib',
      peers: 'cm-peer',
      metric: 'wall',
      target: 0.15,
    },
    {
      name: '1 MiB of stdout a host',
      fleet: 'loud/cli',
      lib: 'loud/lib',
      peers: 'loud-peer',
      metric: 'wall',
      target: 0.6,
      more: (fleet, all) => {
        const clush = all.find((r) => r.id === 'loud/clush');
        const mine = statsOf(fleet);
        const out = [{ text: 'output printed once', met: !printedTwice(mine) }];
        if (clush && !failureOf(clush)) {
          const theirs = statsOf(clush).treeRss;
          out.push({
            text: `peak RSS ≤ clush's (${mine.treeRss.toFixed(0)} vs ${theirs.toFixed(0)} MiB)`,
            met: mine.treeRss <= theirs,
          });
        }
        return out;
      },
    },
    {
      name: '1 MiB file to every host, cold',
      fleet: 'copy/cli',
      lib: 'copy/lib',
      peers: 'copy-peer',
      metric: 'wall',
      target: 0.85,
    },
    {
      name: '1 MiB file to every host, through the agent',
      fleet: agent ? 'copy/agent' : undefined,
      absent: noAgent,
      peers: 'copy-peer',
      metric: 'wall',
      target: 0.3,
    },
  ];
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
  process.stderr.write(`starting ${HOSTS} harness hosts...\n`);
  tf = await startFleet({ healthy: HOSTS });
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
    await $.fleet(targets(hostNames(Math.min(4, HOSTS))), fleetOpts()).run`true`;
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
    if (agent) stopAgent(s);
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
      `up to ${REPS} rounds with the tools' order rotated each round (a row stops after ${REP_BUDGET_S} s of runs), ` +
      `${cpus().length} CPUs, load average (1, 5, 15 min) ${la(load0)} at the start and ${la(load1)} at the end; ` +
      `${((performance.now() - t0) / 1000).toFixed(0)} s in all.`,
    '',
    ...kexLines.map((l) => `- ${l}`),
    `- Client CPU: user+sys of the tool and the processes it waited for${HAVE_TIME ? ' (/usr/bin/time)' : ' (not measured: install `time`)'}, plus ssh masters and the agent; the library's rows: the bench's own process. Machine CPU: busy time of all CPUs (/proc/stat), sshd included. RSS tree: the tool's processes summed, sampled every 50 ms; RSS max: its largest process.`,
    '',
    ...measurementTable(rows),
    '',
    ...scenarioTable(scenarios(), rows),
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
