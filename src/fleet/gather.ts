// Gathering output: hosts that printed the same thing form one group with the host set that printed
// it (as clubak does). Groups whose outputs differ only in the host's own name or address, numbers
// or timestamps are merged into one near-identical group that shows the pattern and each variant.
// Failures are gathered the same way: by status and kind, then by what the hosts said. Renderers
// lay these groups out; they neither group nor fold again. A group holds its hosts' output by
// reference (the string of one of its hosts' results), never a copy: identical outputs are found
// by Map keys, and only outputs up to SIMILAR_MAX_CHARS are masked for near-identical grouping.
import { withoutHostName, type HostResult, type HostStatus } from './host-result.js';
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
  /** True when a host of the group printed more than the cap kept per host (its result's `truncated`). */
  truncated: boolean;
  /** True for a group of outputs that differ only in host names, numbers or timestamps. */
  similar: boolean;
  /** For a near-identical group, each distinct output; empty otherwise. */
  variants: OutputVariant[];
}

const TIME =
  /\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b|\b\d{1,2}:\d{2}(?::\d{2})?\b/g;
const NUMBER = /\d+(?:\.\d+)?/g;
/**
 * Longer outputs are grouped only when identical. Masking 1 MiB of base64 found 138,700 numbers
 * and held 24 MiB and 65 ms of CPU per host; near-identical grouping is for short answers
 * (versions, uptimes, counts), and a long output is shown cut to a few lines anyway.
 */
export const SIMILAR_MAX_CHARS = 16 * 1024;

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
  /** The host printed more than was kept (default false). */
  truncated?: boolean;
}

/** Groups outputs: identical ones first, then near-identical groups merged; largest groups first. */
export function gather(items: readonly GatherInput[], options: { similar?: boolean } = {}): OutputGroup[] {
  // The Map's keys are the hosts' own strings: equal outputs share the first host's.
  const exact = grouped(
    items,
    (i) => i.output,
    (i) => i.host,
  );
  const truncated = new Set(items.filter((i) => i.truncated).map((i) => i.host));
  const anyTruncated = (hosts: readonly string[]) =>
    truncated.size > 0 && hosts.some((h) => truncated.has(h));
  const byPattern = new Map<string, { output: string; hosts: string[]; values: string[] }[]>();
  const groups: OutputGroup[] = [];
  for (const [output, hosts] of exact) {
    if (options.similar === false || output.length > SIMILAR_MAX_CHARS) {
      groups.push(exactGroup(output, hosts, anyTruncated(hosts)));
      continue;
    }
    const { pattern, values } = normalise(output, hosts[0]!);
    const list = byPattern.get(pattern) ?? [];
    list.push({ output, hosts, values });
    byPattern.set(pattern, list);
  }
  for (const [pattern, members] of byPattern) {
    if (members.length === 1) {
      groups.push(exactGroup(members[0]!.output, members[0]!.hosts, anyTruncated(members[0]!.hosts)));
      continue;
    }
    const hostList = members.flatMap((m) => m.hosts);
    groups.push({
      output: pattern,
      hosts: foldHosts(hostList),
      hostList,
      count: hostList.length,
      truncated: anyTruncated(hostList),
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

function exactGroup(output: string, hosts: string[], truncated: boolean): OutputGroup {
  return {
    output,
    hosts: foldHosts(hosts),
    hostList: hosts,
    count: hosts.length,
    truncated,
    similar: false,
    variants: [],
  };
}

/** Items by key, in the order each key first appears. */
function grouped<T, V>(
  items: Iterable<T>,
  keyOf: (item: T) => string,
  valueOf: (item: T) => V,
): Map<string, V[]> {
  const groups = new Map<string, V[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key);
    if (list) list.push(valueOf(item));
    else groups.set(key, [valueOf(item)]);
  }
  return groups;
}

/** Hosts that share a key (a message, what happened to a file), with their folded host set. */
export interface HostGroup {
  key: string;
  hosts: string;
  hostList: string[];
  count: number;
}

/** Hosts grouped by a key, in the order each key first appears (the hosts' order). */
export function groupHosts(items: Iterable<{ host: string; key: string }>): HostGroup[] {
  return [
    ...grouped(
      items,
      (i) => i.key,
      (i) => i.host,
    ),
  ].map(([key, hostList]) => ({
    key,
    hosts: foldHosts(hostList),
    hostList,
    count: hostList.length,
  }));
}

/** Hosts that did not succeed with the same status and kind (`key` reads `failed (cancelled)`, or `failed`). */
export interface FailureGroup extends HostGroup {
  status: Exclude<HostStatus, 'ok'>;
  /** The hosts by what they said (failureMessage), in the hosts' order. */
  messages: HostGroup[];
}

/** Every host that is not ok, skipped ones included, by status and kind, then by message. */
export function gatherFailures(hosts: readonly HostResult<unknown>[]): FailureGroup[] {
  const byKind = grouped(
    hosts.filter((h) => h.status !== 'ok'),
    (h) => (h.kind && h.kind !== h.status ? `${h.status} (${h.kind})` : h.status),
    (h) => h,
  );
  return [...byKind].map(([key, list]) => {
    const hostList = list.map((h) => h.host);
    return {
      key,
      status: list[0]!.status as FailureGroup['status'],
      hosts: foldHosts(hostList),
      hostList,
      count: list.length,
      messages: groupHosts(list.map((h) => ({ host: h.host, key: failureMessage(h) }))),
    };
  });
}

/**
 * What a host that is not ok said, without its own name: the first line of its error (a skipped
 * host's reason), then at most the last three lines quoted under it (a failed command's stderr
 * tail usually says why).
 */
export function failureMessage(h: HostResult<unknown>): string {
  const text = h.status === 'skipped' ? (h.reason ?? 'skipped') : (h.error ?? h.reason ?? h.status);
  const [first, ...rest] = text.split('\n');
  const tail = rest.filter((l) => l.trim() !== '' && !/^stderr \(last lines\):$/.test(l));
  return [withoutHostName(h.host, first!), ...tail.slice(-3)].join('\n');
}
