// The tables of bench/peers.ts: every row's measurements (median of its runs) and correctness, then
// the scenarios as ratios fleetsh / best peer, each against its target (met / missed). A row
// with a failed run is FAILED with the reason and never takes part in a ratio. Markdown, so the same
// text goes to the terminal and to docs/benchmarks.md.
import type { Cost } from './measure.js';

export interface Sample extends Cost {
  /** Hosts that answered correctly (output complete, or the file landed whole). */
  ok: number;
  expected: number;
  /** Why the run is not correct; empty when it is. */
  problems: string[];
  /** Bytes printed that belong to no host (a second copy of the output shows here). */
  extraBytes?: number;
  /** Bytes the hosts' output amounts to, when there is output to speak of. */
  payloadBytes?: number;
}

export interface Row {
  caseName: string;
  id: string; // `${case}/${tool}`, what the scenarios refer to
  tool: string;
  kind: 'lib' | 'cli' | 'agent' | 'peer';
  /** Which best-of sets the row belongs to (the scenario's peers). */
  tags: string[];
  hosts: number;
  /** Fan-outs in one sample (the warm case runs 10 in a row). */
  fanouts: number;
  samples: Sample[];
  missing?: string;
}

const median = (v: number[]) => {
  const s = v.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = s.length / 2;
  return s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
};

export interface Stats {
  wall: number; // s
  cpu: number; // s
  machine: number; // s
  treeRss: number; // MiB
  maxRss: number; // MiB
  extraBytes: number;
  payloadBytes: number;
}

export function statsOf(r: Row): Stats {
  const m = (f: (s: Sample) => number | undefined) => median(r.samples.map((s) => f(s) ?? NaN));
  return {
    wall: m((s) => s.wallMs) / 1000,
    cpu: m((s) => s.cpuMs) / 1000,
    machine: m((s) => s.machineCpuMs) / 1000,
    treeRss: m((s) => s.treeRssKb) / 1024,
    maxRss: m((s) => s.maxRssKb) / 1024,
    extraBytes: m((s) => s.extraBytes),
    payloadBytes: m((s) => s.payloadBytes),
  };
}

/** Undefined when every run of the row was correct; else why not (or why it did not run). */
export function failureOf(r: Row): string | undefined {
  if (r.missing) return r.missing;
  if (!r.samples.length) return 'not run';
  const bad = r.samples.find((s) => s.problems.length);
  if (!bad) return undefined;
  const why = `${bad.ok}/${bad.expected} hosts ok: ${bad.problems.join('; ')}`;
  return why.length > 200 ? why.slice(0, 199) + '…' : why;
}

/** More printed than the hosts' output and a short summary: the output was printed twice. */
export function printedTwice(s: Stats): boolean {
  return Number.isFinite(s.payloadBytes) && s.extraBytes > Math.max(64 * 1024, 0.05 * s.payloadBytes);
}

const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

function mdTable(header: string[], rows: string[][], right: boolean[]): string[] {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const cells = rows.map((r) => r.map(esc));
  const w = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    '| ' + r.map((c, i) => (right[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ') + ' |';
  return [
    line(header),
    '|' + w.map((n, i) => (right[i] ? '-'.repeat(n + 1) + ':' : '-'.repeat(n + 2))).join('|') + '|',
    ...cells.map(line),
  ];
}

export function measurementTable(rows: Row[]): string[] {
  const header = [
    'case',
    'tool',
    'runs',
    'wall s',
    'client CPU s',
    'CPU ms/host',
    'machine CPU s',
    'RSS tree MiB',
    'RSS max MiB',
    'correct',
  ];
  const body = rows.map((r) => {
    const s = statsOf(r);
    const fail = failureOf(r);
    let correct = fail
      ? r.missing
        ? r.missing
        : `FAILED: ${fail}`
      : `${r.samples[0]!.expected}/${r.samples[0]!.expected}`;
    if (!fail && printedTwice(s)) correct += ` (+${mib(s.extraBytes)} printed besides the hosts' lines)`;
    const cpuPerHost = (s.cpu * 1000) / (r.hosts * r.fanouts);
    return [
      r.caseName,
      r.tool,
      String(r.samples.length),
      fmt(s.wall),
      fmt(s.cpu),
      fmt(cpuPerHost, 1),
      fmt(s.machine),
      fmt(s.treeRss, 0),
      fmt(s.maxRss, 0),
      correct,
    ];
  });
  return mdTable(header, body, [false, false, true, true, true, true, true, true, true, false]);
}

export interface Scenario {
  name: string;
  /** The fleetsh row the target is about, and the library's row beside it. */
  fleet?: string;
  lib?: string;
  /** Tag of the peer rows to take the best of. */
  peers: string;
  metric: 'wall' | 'cpu';
  /** fleetsh / best peer must be at most this. */
  target?: number;
  /** Why the fleetsh row is absent, when it is. */
  absent?: string;
  /** More conditions of the target, given the rows' stats. */
  more?: (fleet: Row, all: Row[]) => Array<{ text: string; met: boolean }>;
  /** The target is not a ratio (client CPU a host); ownName says it when there is no figure. */
  own?: (fleet: Row) => { text: string; met: boolean };
  ownName?: string;
}

export function scenarioTable(scenarios: Scenario[], rows: Row[]): string[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const body: string[][] = [];
  for (const sc of scenarios) {
    const value = (r: Row) => statsOf(r)[sc.metric];
    const unit = sc.metric === 'wall' ? 's' : 's CPU';
    const peers = rows.filter((r) => r.tags.includes(sc.peers) && !failureOf(r));
    const best = peers.sort((a, b) => value(a) - value(b))[0];
    const fleet = sc.fleet ? byId.get(sc.fleet) : undefined;
    const lib = sc.lib ? byId.get(sc.lib) : undefined;
    const fleetFail = fleet ? failureOf(fleet) : (sc.absent ?? 'not selected');
    const bestText = best
      ? `${best.tool} ${fmt(value(best))} ${unit}`
      : rows.some((r) => r.tags.includes(sc.peers))
        ? 'no peer with a correct run'
        : 'not selected';
    const ratio = (r: Row | undefined) => (r && !failureOf(r) && best ? value(r) / value(best) : NaN);
    const fr = ratio(fleet);
    const checks: Array<{ text: string; met: boolean }> = [];
    if (sc.target !== undefined && Number.isFinite(fr))
      checks.push({ text: `≤ ${sc.target}×`, met: fr <= sc.target });
    else if (sc.target !== undefined) checks.push({ text: `≤ ${sc.target}×: not measured`, met: false });
    if (fleet && !failureOf(fleet)) {
      if (sc.own) checks.push(sc.own(fleet));
      if (sc.more) checks.push(...sc.more(fleet, rows));
    } else if (sc.own) checks.push({ text: `${sc.ownName}: not measured`, met: false });
    const verdict = checks.length
      ? checks
          .map((c) => `${c.text} ${c.text.endsWith('not measured') ? '' : c.met ? 'met' : 'missed'}`.trim())
          .join('; ')
      : '-';
    body.push([
      sc.name,
      fleet && !fleetFail
        ? `${fleet.tool} ${fmt(value(fleet))} ${unit}`
        : fleet
          ? `${fleet.tool}: ${fleet.missing ? fleetFail : 'FAILED (see its row)'}`
          : (fleetFail ?? ''),
      bestText,
      fmt(fr),
      fmt(ratio(lib)),
      verdict,
    ]);
  }
  return mdTable(['scenario', 'fleetsh', 'best peer', 'fleetsh/peer', 'library/peer', 'target'], body, [
    false,
    false,
    false,
    true,
    true,
    false,
  ]);
}
