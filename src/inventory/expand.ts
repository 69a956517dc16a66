// Evaluates a parsed host set expression: expands patterns, looks up @groups through the caller's
// resolver and reads ^files through the caller's reader, left to right, with cycle detection and a
// cap on the number of hosts so that no input can hang or exhaust memory.
import { dirname, resolve } from 'node:path';
import { HostSetError } from './errors.js';
import { parseExpression, type Brackets, type Expression, type PatternTerm, type Term } from './parse.js';
import { UsageError } from '../process/errors.js';
import { describeIoError } from '../process/io-error.js';
import { namedBy } from './same-host.js';

export { describeIoError };

/**
 * Looks up a group by name (without the "@"). A string is another host set expression (it may use
 * other groups and files); an iterable gives host names as they are, not parsed (a HostSet, or the
 * hosts that failed in the last run); undefined means there is no such group.
 * A UsageError thrown here is reported at the group's column.
 */
export type GroupResolver = (name: string) => string | Iterable<string> | undefined;

export interface ExpandContext {
  groups: GroupResolver | undefined;
  /** Reads a host file, given its absolute path. */
  readFile: (path: string) => string;
  /** Directory that relative ^file paths start from. */
  cwd: string;
  /** Home directory for ^~/file paths. */
  home: string;
  maxHosts: number;
}

/** An ordered, de-duplicated list of hosts, with its Set for lookups. */
export interface HostList {
  list: string[];
  set: Set<string>;
}

/** Groups and files within groups and files deeper than this are refused (a runaway chain, not a fleet). */
const MAX_DEPTH = 64;

interface State {
  groups: Map<string, string[]>;
  files: Map<string, string[]>;
  /** Group names and file paths being evaluated, outermost first, for cycle detection. */
  stack: string[];
}

export function evaluate(expr: Expression, ctx: ExpandContext): HostList {
  return run(expr, ctx, { groups: new Map(), files: new Map(), stack: [] }, ctx.cwd, []);
}

function run(expr: Expression, ctx: ExpandContext, state: State, base: string, origin: string[]): HostList {
  let list: string[] = [];
  let set = new Set<string>();
  const fail = (index: number, reason: string) => new HostSetError(expr.source, index, reason, origin);
  for (const { op, term } of expr.steps) {
    const hosts = termHosts(term, expr, ctx, state, base, origin);
    if (op === ',') {
      for (const h of hosts) {
        if (!set.has(h)) {
          set.add(h);
          list.push(h);
        }
      }
      if (list.length > ctx.maxHosts) {
        throw fail(
          term.at,
          `more than ${ctx.maxHosts.toLocaleString('en-US')} hosts by this term (the limit, maxHosts)`,
        );
      }
    } else if (op === '!') {
      const named = namedBy(hosts);
      const kept = list.filter((h) => !named(h));
      if (kept.length < list.length) {
        list = kept;
        set = new Set(list);
      }
    } else {
      const named = namedBy(hosts);
      list = list.filter(named);
      set = new Set(list);
    }
  }
  return { list, set };
}

function termHosts(
  term: Term,
  expr: Expression,
  ctx: ExpandContext,
  state: State,
  base: string,
  origin: string[],
): readonly string[] {
  const fail = (reason: string) => new HostSetError(expr.source, term.at, reason, origin);
  if (term.kind === 'pattern') return expandPattern(term);
  if (state.stack.length >= MAX_DEPTH) {
    throw fail(`groups and files are nested more than ${MAX_DEPTH} deep here`);
  }
  if (term.kind === 'group') {
    const key = `@${term.name}`;
    const cached = state.groups.get(term.name);
    if (cached) return cached;
    if (state.stack.includes(key)) {
      const cycle = [...state.stack.slice(state.stack.indexOf(key)), key];
      throw fail(`group cycle: ${cycle.join(' → ')}`);
    }
    let value: string | Iterable<string> | undefined;
    try {
      value = ctx.groups?.(term.name);
    } catch (e) {
      if (e instanceof UsageError && !(e instanceof HostSetError)) throw fail(e.message);
      throw e;
    }
    if (value === undefined) {
      throw fail(ctx.groups ? `unknown group ${key}` : `unknown group ${key}: no groups are defined here`);
    }
    let hosts: string[];
    if (typeof value === 'string') {
      const inner = [...origin, key];
      state.stack.push(key);
      hosts = run(parseExpression(value, ctx.maxHosts, inner), ctx, state, base, inner).list;
      state.stack.pop();
    } else {
      hosts = [];
      for (const h of value) {
        if (typeof h !== 'string') throw fail(`group ${key} gave a ${typeof h}, not a host name`);
        hosts.push(h);
        if (hosts.length > ctx.maxHosts)
          throw fail(`group ${key} has more than ${ctx.maxHosts} hosts (maxHosts)`);
      }
    }
    state.groups.set(term.name, hosts);
    return hosts;
  }
  return fileHosts(term.path, term.at, expr, ctx, state, base, origin);
}

function fileHosts(
  path: string,
  at: number,
  expr: Expression,
  ctx: ExpandContext,
  state: State,
  base: string,
  origin: string[],
): string[] {
  const fail = (reason: string) => new HostSetError(expr.source, at, reason, origin);
  const abs = path === '~' || path.startsWith('~/') ? resolve(ctx.home, path.slice(2)) : resolve(base, path);
  const cached = state.files.get(abs);
  if (cached) return cached;
  if (state.stack.includes(abs)) throw fail(`host file ${path} includes itself`);
  let text: string;
  try {
    text = ctx.readFile(abs);
  } catch (e) {
    throw fail(`cannot read host file ${path}: ${describeIoError(e)}`);
  }
  state.stack.push(abs);
  const hosts = listHosts(text, path, dirname(abs), ctx, state, origin, fail);
  state.stack.pop();
  state.files.set(abs, hosts);
  return hosts;
}

/**
 * A list of hosts as a ^file or a paste holds it: one expression a line, each evaluated on its
 * own, blank lines and `#` comments skipped; a line's error names `source:line`.
 */
export function evaluateList(text: string, source: string, ctx: ExpandContext): HostList {
  const fail = (reason: string) => new UsageError(reason);
  const list = listHosts(
    text,
    source,
    ctx.cwd,
    ctx,
    { groups: new Map(), files: new Map(), stack: [] },
    [],
    fail,
  );
  return { list, set: new Set(list) };
}

function listHosts(
  text: string,
  source: string,
  base: string,
  ctx: ExpandContext,
  state: State,
  origin: string[],
  fail: (reason: string) => UsageError,
): string[] {
  const lines = text.split(/\r?\n/);
  const seen = new Set<string>();
  const hosts: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i]!.indexOf('#');
    const line = hash === -1 ? lines[i]! : lines[i]!.slice(0, hash);
    if (line.trim() === '') continue;
    const inner = [...origin, `${source}:${i + 1}`];
    for (const h of run(parseExpression(line, ctx.maxHosts, inner), ctx, state, base, inner).list) {
      if (!seen.has(h)) {
        seen.add(h);
        hosts.push(h);
      }
    }
    if (hosts.length > ctx.maxHosts) throw fail(`${source} has more than ${ctx.maxHosts} hosts (maxHosts)`);
  }
  return hosts;
}

/** All hosts of one pattern, first bracket outermost: r[1-2]n[1-2] → r1n1 r1n2 r2n1 r2n2. */
export function expandPattern(term: PatternTerm): string[] {
  let acc = [''];
  for (const seg of term.segments) {
    if (typeof seg === 'string') {
      for (let i = 0; i < acc.length; i++) acc[i] += seg;
      continue;
    }
    const numbers = bracketNumbers(seg);
    const next: string[] = new Array(acc.length * numbers.length);
    let k = 0;
    for (const a of acc) for (const n of numbers) next[k++] = a + n;
    acc = next;
  }
  return acc;
}

function bracketNumbers(b: Brackets): string[] {
  const out = new Set<string>();
  for (const { start, end, step, width } of b.items) {
    for (let v = start; v <= end; v += step) out.add(width ? String(v).padStart(width, '0') : String(v));
  }
  return [...out];
}
