// The scenarios of bench/peers.ts: for each case, the fleetsh rows and the peers' rows ("variants"),
// each a function that runs the tool once and checks the run (every host answered, its output whole,
// a copied file's checksum), and the issue's targets over them. The bench's main (bench/peers.ts)
// sets the context up, runs the variants in rotated rounds and prints the tables.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $, type FleetReport } from '../../src/index.js';
import type { TestFleet } from '../../test/harness/fleet.js';
import {
  killMarked,
  machineBusyMs,
  markedCpuMs,
  runExternal,
  runInProcess,
  type Cmd,
  type ExternalRun,
} from './measure.js';
import {
  checkOutput,
  countAnsibleSuccess,
  countPsshSuccess,
  expectedOf,
  type Expected,
  type OutputFormat,
} from './output-check.js';
import type { Row, Sample } from './report.js';
import {
  ansibleCopy,
  ansibleRun,
  cliCopy,
  cliRun,
  peerCopy,
  peerRun,
  stopAgent,
  type Setup,
} from './tools.js';

/** What the variants run against, and the bench's options. */
export interface Context {
  tf: TestFleet;
  s: Setup;
  /** This build of the CLI has `fleetsh agent`. */
  agent: boolean;
  root: string;
  hosts: number;
  fanout: number;
  timeoutS: number;
  commands: number;
  warmHosts: number;
  loudHosts: number;
  loudBytes: number;
  copyBytes: number;
}

export const COLD_COMMAND = 'echo ok'; // `true` that prints: every host's answer can be counted

let c: Context;
let runs = 0; // numbers each run's scratch files
export function useContext(ctx: Context): void {
  c = ctx;
}
const hostNames = (n: number) => c.tf.healthy.slice(0, n).map((h) => h.name);
const targets = (hosts: string[]) => hosts.map((host) => ({ host, sshConfig: c.tf.sshConfigPath }));
const fleetOpts = () => ({ concurrency: c.fanout, deadline: `${c.timeoutS}s` });
/**
 * The OpenSSH transport: the system ssh on one ControlMaster a host, with the peers' ssh_config
 * (curve25519-sha256, as theirs; its ControlMaster lines are overridden by fleetsh's own -S).
 */
const opensshFlags = () => ['--transport', 'openssh', '-F', c.s.curveConfig];
/** A CLI run with more flags before its `--` (a later -F wins over the first). */
function withFlags(cmd: Cmd, flags: string[]): Cmd {
  const at = cmd.args.indexOf('--');
  return { ...cmd, args: [...cmd.args.slice(0, at), ...flags, ...cmd.args.slice(at)] };
}
const opensshTargets = (hosts: string[]) =>
  hosts.map((host) => ({ host, sshConfig: c.s.curveConfig, transport: 'openssh' as const }));
const scratchFile = (what: string) => join(c.s.scratch, `${what}.${++runs}`);

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
  const run = await runExternal(cmd, { stdoutFile, cwd: c.s.scratch, timeoutS: c.timeoutS });
  let v: Verdict;
  if (run.timedOut) v = { ok: 0, problems: [`timed out after ${c.timeoutS} s`] };
  else {
    try {
      v = check(run, stdoutFile);
    } catch (e) {
      v = { ok: 0, problems: [`its output could not be read: ${String(e)}`] };
    }
    if (run.rc !== 0) {
      const tail = stderrOf(run).split('\n').slice(-2).join(' | ').slice(0, 300);
      v.problems.unshift(`exit ${run.rc}${tail ? `: ${tail}` : ''}`);
    }
  }
  rmSync(stdoutFile, { force: true });
  return { ...run, expected, ...v };
}

/** The library's report read like the tools' output: hosts ok with `ok\n` on stdout, and why not. */
function libVerdict(report: FleetReport | undefined, error: string | undefined, n: number): Verdict {
  if (!report) return { ok: 0, problems: [error ?? 'no report'] };
  const ok = report.hosts.filter((h) => h.status === 'ok' && h.stdout === 'ok\n').length;
  const bad = report.hosts.find((h) => h.status !== 'ok' || h.stdout !== 'ok\n');
  const why = bad ? `${bad.host}: ${bad.status}, ${bad.error ?? JSON.stringify(bad.stdout)}` : '';
  return { ok, problems: ok === n ? [] : [`${n - ok} hosts not ok (${why.slice(0, 200)})`] };
}

/** A tool's stderr without clush's progress counter (`clush: 38/50`, written over itself). */
function stderrOf(run: ExternalRun): string {
  return run.stderr
    .replace(/clush: \d+\/\d+\s*/g, '')
    .replace(/\r/g, '')
    .trim();
}

/** The last line of a file (the fleetsh CLI's summary: `50 hosts: 32 ok, 18 unreachable ...`). */
function lastLine(file: string): string {
  const text = readFileSync(file).subarray(-1000).toString('utf8').trim();
  return text.slice(text.lastIndexOf('\n') + 1).slice(0, 200);
}

/** The fleetsh CLI's output read back; when it is not right, the CLI's own summary line says why. */
function cliVerdict(file: string, want: Map<string, Expected>): Verdict {
  const v = outputVerdict(file, 'prefix', want);
  if (v.problems.length) v.problems.push(`the CLI said: ${lastLine(file)}`);
  return v;
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

export interface Variant {
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

export function coldVariants(): Variant[] {
  const hosts = hostNames(c.hosts);
  const want = new Map(hosts.map((h) => [h, expectedOf(Buffer.from('ok\n'))]));
  const caseName = `cold \`${COLD_COMMAND}\`, ${c.hosts} hosts`;
  const base = { caseName, hosts: c.hosts, fanouts: 1 };
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
        return { ...r, expected: hosts.length, ...libVerdict(r.value, r.error, hosts.length) };
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
        external(cliRun(c.s, hosts, COLD_COMMAND, false, scratchFile('state')), hosts.length, (_, f) =>
          cliVerdict(f, want),
        ),
    },
    {
      ...base,
      caseKey: 'cold',
      id: 'cold/cli-openssh',
      tool: 'fleetsh run --transport openssh',
      kind: 'cli',
      tags: [],
      toolKey: 'cli-openssh',
      run: () =>
        external(
          withFlags(cliRun(c.s, hosts, COLD_COMMAND, false, scratchFile('state')), opensshFlags()),
          hosts.length,
          (_, f) => cliVerdict(f, want),
        ),
    },
  ];
  for (const p of ['pdsh', 'clush', 'pssh'] as const) {
    for (const [caseKey, config, tag, label] of [
      ['cold', c.s.curveConfig, 'cold-peer', ''],
      ['kex', c.s.defaultKexConfig, 'kex-peer', ' (default kex)'],
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
          external(peerRun(c.s, p, hosts, COLD_COMMAND, config), hosts.length, (_, f) =>
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
      const controlDir = join(c.s.cmDir, `a${++c.s.controlDirs}`);
      return withMarked(controlDir, async () => {
        const x = await external(
          ansibleRun(c.s, hosts, c.tf.healthy.length, COLD_COMMAND, controlDir),
          hosts.length,
          (_, f) => outputVerdict(f, 'ansible', want),
        );
        return x;
      }).finally(() => killMarked(controlDir));
    },
  });
  return v;
}

export function warmVariants(): Variant[] {
  const hosts = hostNames(c.warmHosts);
  const want = new Map(hosts.map((h) => [h, expectedOf(Buffer.from('ok\n'))]));
  const caseName = `warm: ${c.commands} fan-outs of \`${COLD_COMMAND}\`, ${c.warmHosts} hosts`;
  const base = { caseKey: 'warm', caseName, hosts: c.warmHosts, fanouts: c.commands };
  const cli = (viaAgent: boolean) => () =>
    external(cliRun(c.s, hosts, COLD_COMMAND, viaAgent, scratchFile('state')), hosts.length, (_, f) =>
      cliVerdict(f, want),
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
          return { ...r, expected: hosts.length, ...libVerdict(r.value, r.error, hosts.length) };
        };
        try {
          return await repeated(c.commands, one);
        } finally {
          await $.close();
        }
      },
    },
  ];
  const cliOpenssh = () =>
    external(
      withFlags(cliRun(c.s, hosts, COLD_COMMAND, false, scratchFile('state')), opensshFlags()),
      hosts.length,
      (_, f) => cliVerdict(f, want),
    );
  v.push(
    {
      ...base,
      id: 'warm/cli-openssh',
      tool: `fleetsh run --transport openssh (${c.commands} runs, each stops its masters)`,
      kind: 'cli',
      tags: [],
      toolKey: 'cli-openssh',
      run: () => repeated(c.commands, cliOpenssh),
    },
    {
      ...base,
      id: 'warm/lib-openssh',
      tool: 'fleetsh library over the OpenSSH transport, masters kept, one process',
      kind: 'lib',
      tags: [],
      toolKey: 'cli-openssh',
      run: async () => {
        // starts the masters, not measured
        await $.fleet(opensshTargets(hosts), fleetOpts()).run`true`;
        const one = async (): Promise<Sample> => {
          const r = await runInProcess(
            async () => await $.fleet(opensshTargets(hosts), fleetOpts()).run`echo ok`,
          );
          return { ...r, expected: hosts.length, ...libVerdict(r.value, r.error, hosts.length) };
        };
        try {
          return await repeated(c.commands, one);
        } finally {
          await $.close();
        }
      },
    },
  );
  if (c.agent)
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
          return await withMarked(c.s.xdg, () => repeated(c.commands, cli(true)));
        } finally {
          stopAgent(c.s);
          killMarked(c.s.xdg);
        }
      },
    });
  else
    v.push({
      ...base,
      id: 'warm/cli',
      tool: `fleetsh run, no agent in this build (${c.commands} cold runs)`,
      kind: 'cli',
      tags: [],
      toolKey: 'cli',
      run: () => repeated(c.commands, cli(false)),
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
        const marker = join(c.s.cmDir, 'm'); // a master's title names its socket there
        const one = () =>
          external(peerRun(c.s, p, hosts, COLD_COMMAND, c.s.cmConfig), hosts.length, (_, f) =>
            outputVerdict(f, FORMAT[p], want),
          );
        try {
          const first = await one(); // opens the masters, not measured
          if (first.problems.length) return first;
          return await withMarked(marker, () => repeated(c.commands, one));
        } finally {
          killMarked(marker);
        }
      },
    });
  return v;
}

export function loudVariants(): Variant[] {
  const hosts = hostNames(c.loudHosts);
  // 1 MiB of base64 lines, and every host prints its own address first, so that no two hosts' outputs
  // are the same (a tool that groups identical outputs cannot fold them into one)
  const body = Buffer.from(
    randomBytes(Math.ceil((c.loudBytes * 3) / 4) + 64)
      .toString('base64')
      .match(/.{1,76}/g)!
      .join('\n'),
  ).subarray(0, c.loudBytes - 1);
  const bodyFile = join(c.s.scratch, 'loud.txt');
  writeFileSync(bodyFile, Buffer.concat([body, Buffer.from('\n')]));
  const bodyText = readFileSync(bodyFile);
  const want = new Map(
    c.tf.healthy
      .slice(0, c.loudHosts)
      .map((h) => [h.name, expectedOf(Buffer.concat([Buffer.from(`${h.address}\n`), bodyText]))]),
  );
  const expectedFile = join(c.s.scratch, 'loud-expected.json');
  writeFileSync(expectedFile, JSON.stringify(Object.fromEntries(want)));
  const command = `set -- $SSH_CONNECTION; echo $3; exec cat ${bodyFile}`;
  const caseName = `loud: ${(c.loudBytes / 1048576).toFixed(1)} MiB of stdout a host, ${c.loudHosts} hosts`;
  const base = { caseKey: 'loud', caseName, hosts: c.loudHosts, fanouts: 1 };
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
            join(import.meta.dirname, 'lib-loud.ts'),
            c.tf.sshConfigPath,
            String(c.fanout),
            expectedFile,
            command,
            ...hosts,
          ],
          {
            cwd: c.root,
            encoding: 'utf8',
            timeout: c.timeoutS * 1000,
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
        external(cliRun(c.s, hosts, command, false, scratchFile('state')), hosts.length, (_, f) =>
          cliVerdict(f, want),
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
        external(peerRun(c.s, p, hosts, command, c.s.curveConfig), hosts.length, (_, f) =>
          outputVerdict(f, FORMAT[p], want),
        ),
    });
  return v;
}

export function copyVariants(): Variant[] {
  const hosts = hostNames(c.hosts);
  const hostSet = new Set(hosts);
  const payload = join(c.s.scratch, 'payload.bin');
  writeFileSync(payload, randomBytes(c.copyBytes));
  const sum = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const payloadSum = sum(payload);
  /** A fresh destination folder for each run, so that no earlier run's file can pass the check. */
  const freshDest = () => {
    const dir = join(c.s.scratch, `dest.${++runs}`);
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
  const caseName = `copy ${(c.copyBytes / 1048576).toFixed(1)} MiB to ${c.hosts} hosts`;
  const base = { caseKey: 'copy', caseName, hosts: c.hosts, fanouts: 1 };
  /** A tool whose stdout says nothing per host: exit 0 and an empty stderr (pdcp and clush exit 0 when a host fails). */
  const quiet = (run: ExternalRun, dest: string): Verdict => {
    const problems = [...landed(dest)];
    const stderr = stderrOf(run);
    if (stderr) problems.push(`stderr: ${stderr.split('\n').slice(0, 2).join(' | ').slice(0, 300)}`);
    return { ok: problems.length ? 0 : hosts.length, problems };
  };
  const cliCopyRun = (viaAgent: boolean) => async (): Promise<Sample> => {
    const dir = freshDest();
    const state = scratchFile('state');
    const x = await external(
      cliCopy(c.s, hosts, payload, join(dir, 'payload'), viaAgent, state),
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
        const bad = r.value?.hosts.find((h) => h.status !== 'ok');
        if (bad) problems.push(`${hosts.length - ok} hosts not ok (${bad.host}: ${bad.error ?? bad.status})`);
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
  if (c.agent)
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
          return await withMarked(c.s.xdg, cliCopyRun(true));
        } finally {
          stopAgent(c.s);
          killMarked(c.s.xdg);
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
        const x = await external(peerCopy(c.s, p, hosts, payload, dest), hosts.length, (run, f) => {
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
      const controlDir = join(c.s.cmDir, `a${++c.s.controlDirs}`);
      try {
        return await withMarked(controlDir, () =>
          external(
            ansibleCopy(c.s, hosts, c.tf.healthy.length, payload, dir, controlDir),
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
