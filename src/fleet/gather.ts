// Gathering output: hosts that printed the same thing form one group with the host set that printed
// it (as clubak does). Groups whose outputs differ only in the host's own name or address, numbers
// or timestamps are merged into one near-identical group that shows the pattern and each variant.
import { foldHosts } from './hostset.js';

export interface OutputVariant {
  hosts: string;
  hostList: string[];
  output: string;
  /** The values that fill the pattern's placeholders, in order, for these hosts. */
  differences: string[];
}

export interface OutputGroup {
  /** The output itself, or for a near-identical group the pattern with {host}, {time}, {n}. */
  output: string;
  hosts: string;
  hostList: string[];
  count: number;
  /** True for a group of outputs that differ only in host names, numbers or timestamps. */
  similar: boolean;
  /** For a near-identical group, each distinct output; empty otherwise. */
  variants: OutputVariant[];
}

const TIME =
  /\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b|\b\d{1,2}:\d{2}(?::\d{2})?\b/g;
const NUMBER = /\d+(?:\.\d+)?/g;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The host's names as they may appear in its output: given name, short name, without port. */
function hostNames(host: string): string[] {
  const bare = host.replace(/:\d+$/, '');
  const names = new Set([host, bare]);
  const short = bare.split('.')[0];
  if (short && !/^\d+$/.test(short)) names.add(short);
  return [...names].sort((a, b) => b.length - a.length);
}

/** The output with host names, timestamps and numbers replaced; and the values replaced, in order. */
export function normalise(output: string, host: string): { pattern: string; values: string[] } {
  const tokens: { at: number; value: string; placeholder: string }[] = [];
  let masked = output;
  const mask = (re: RegExp, placeholder: string) => {
    masked = masked.replace(re, (match: string, ...rest: unknown[]) => {
      const at = rest.find((r) => typeof r === 'number') as number;
      tokens.push({ at, value: match, placeholder });
      return '\u0000'.repeat(match.length);
    });
  };
  const names = hostNames(host).map(escapeRegExp).join('|');
  mask(new RegExp(`(?<![\\w.-])(?:${names})(?![\\w-])`, 'g'), '{host}');
  mask(TIME, '{time}');
  mask(NUMBER, '{n}');
  tokens.sort((a, b) => a.at - b.at);
  let pattern = '';
  let last = 0;
  for (const t of tokens) {
    pattern += output.slice(last, t.at) + t.placeholder;
    last = t.at + t.value.length;
  }
  pattern += output.slice(last);
  return { pattern, values: tokens.map((t) => t.value) };
}

export interface GatherInput {
  host: string;
  output: string;
}

/** Groups outputs: identical ones first, then near-identical groups merged; largest groups first. */
export function gather(items: readonly GatherInput[], options: { similar?: boolean } = {}): OutputGroup[] {
  const exact = new Map<string, string[]>();
  for (const { host, output } of items) {
    const list = exact.get(output);
    if (list) list.push(host);
    else exact.set(output, [host]);
  }
  const byPattern = new Map<string, { output: string; hosts: string[]; values: string[] }[]>();
  const groups: OutputGroup[] = [];
  for (const [output, hosts] of exact) {
    if (options.similar === false) {
      groups.push(exactGroup(output, hosts));
      continue;
    }
    const { pattern, values } = normalise(output, hosts[0]!);
    const list = byPattern.get(pattern) ?? [];
    list.push({ output, hosts, values });
    byPattern.set(pattern, list);
  }
  for (const [pattern, members] of byPattern) {
    if (members.length === 1) {
      groups.push(exactGroup(members[0]!.output, members[0]!.hosts));
      continue;
    }
    const hostList = members.flatMap((m) => m.hosts);
    groups.push({
      output: pattern,
      hosts: foldHosts(hostList),
      hostList,
      count: hostList.length,
      similar: true,
      variants: members.map((m) => ({
        hosts: foldHosts(m.hosts),
        hostList: m.hosts,
        output: m.output,
        differences: m.values,
      })),
    });
  }
  return groups.sort((a, b) => b.count - a.count || a.hostList[0]!.localeCompare(b.hostList[0]!));
}

function exactGroup(output: string, hosts: string[]): OutputGroup {
  return {
    output,
    hosts: foldHosts(hosts),
    hostList: hosts,
    count: hosts.length,
    similar: false,
    variants: [],
  };
}
