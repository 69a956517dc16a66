// HostSet: an ordered, de-duplicated, immutable set of host names, parsed from the range syntax
// of pdsh and ClusterShell and printed back folded.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { evaluate, evaluateList, type ExpandContext, type GroupResolver } from './expand.js';
import { foldDistinct } from './fold.js';
import { naturalCompare } from './natural.js';
import { parseExpression } from './parse.js';
import { namedBy } from './same-host.js';
import { UsageError } from '../process/errors.js';

export const DEFAULT_MAX_HOSTS = 1_000_000;

export interface HostSetOptions {
  /** Resolves `@name`. Without it, any `@group` is an "unknown group" error. */
  groups?: GroupResolver;
  /**
   * Reads a `^file` (given its absolute path) as text: one host or expression a line, `#` starts
   * a comment. Default: fs.readFileSync. Pass your own to sandbox or to forbid files (throw).
   */
  readFile?: (path: string) => string;
  /** Where relative `^file` paths start. Default: process.cwd(). Files within files start at their folder. */
  cwd?: string;
  /** An expression that would grow past this many hosts is an error, before it is expanded. */
  maxHosts?: number;
}

/**
 * Hosts in the order they were first named (`sorted()` gives natural order), each once.
 * Immutable: the set operations return new sets.
 */
export class HostSet implements Iterable<string> {
  readonly #list: readonly string[];
  readonly #set: ReadonlySet<string>;
  #folded: string | undefined;

  private constructor(list: readonly string[], set: ReadonlySet<string>) {
    // Private in TypeScript only: from JavaScript, `new HostSet('web[1-3]')` would make a set of letters.
    if (!Array.isArray(list) || !(set instanceof Set))
      throw new UsageError(
        'HostSet has no public constructor: use HostSet.parse("web[1-3]") or HostSet.from(["web1", "web2"])',
      );
    this.#list = list;
    this.#set = set;
  }

  /**
   * Parses a host set expression: `web[01-20].prod`, `r[1-2]n[1-4]`, `a,b!c&d` (left to right),
   * `@group`, `^file`, white space as union. Throws a HostSetError (a UsageError) that shows the
   * column of the problem.
   */
  static parse(expression: string, options: HostSetOptions = {}): HostSet {
    if (typeof expression !== 'string') {
      throw new UsageError(`host set: expected an expression string, got ${describe(expression)}`);
    }
    const ctx = context(options);
    const { list, set } = evaluate(parseExpression(expression, ctx.maxHosts), ctx);
    return new HostSet(list, set);
  }

  /**
   * A list of hosts as people paste it, or as a `^file` holds it: one expression a line (`web1`,
   * `deploy@db1:2222`, `web[1-3]`, `@group`), blank lines and `#` comments skipped, each line on
   * its own. An error names `source:line` (default source: "list").
   */
  static parseList(text: string, options: HostSetOptions & { source?: string } = {}): HostSet {
    if (typeof text !== 'string') {
      throw new UsageError(`host list: expected text, got ${describe(text)}`);
    }
    const { list, set } = evaluateList(text, options.source ?? 'list', context(options));
    return new HostSet(list, set);
  }

  /** The given names as they are (not parsed), without repeats. */
  static from(hosts: Iterable<string>): HostSet {
    if (hosts instanceof HostSet) return hosts;
    const list: string[] = [];
    const set = new Set<string>();
    for (const h of iterableOf(hosts, 'HostSet.from')) {
      if (typeof h !== 'string')
        throw new UsageError(`HostSet.from: expected host names, got ${describe(h)}`);
      if (!set.has(h)) {
        set.add(h);
        list.push(h);
      }
    }
    return new HostSet(list, set);
  }

  static empty(): HostSet {
    return new HostSet([], new Set());
  }

  /** The hosts, in order (a copy). */
  get hosts(): string[] {
    return [...this.#list];
  }

  get size(): number {
    return this.#list.length;
  }

  has(host: string): boolean {
    return this.#set.has(host);
  }

  /** This set's hosts, then the other's that are new. */
  union(other: Iterable<string>): HostSet {
    const o = HostSet.from(iterableOf(other, 'union'));
    if (o.size === 0) return this;
    const list = [...this.#list];
    const set = new Set(this.#set);
    for (const h of o.#list) {
      if (!set.has(h)) {
        set.add(h);
        list.push(h);
      }
    }
    return new HostSet(list, set);
  }

  /** This set's hosts that the other does not name, in this set's order (a bare `web2` names `root@web2` too). */
  difference(other: Iterable<string>): HostSet {
    const named = namedBy(HostSet.from(iterableOf(other, 'difference')));
    return this.#filter((h) => !named(h));
  }

  /** This set's hosts that the other names, in this set's order (a bare `web2` names `root@web2` too). */
  intersection(other: Iterable<string>): HostSet {
    const named = namedBy(HostSet.from(iterableOf(other, 'intersection')));
    return this.#filter(named);
  }

  /** The same hosts in natural order: web2 before web10. */
  sorted(): HostSet {
    return new HostSet([...this.#list].sort(naturalCompare), this.#set);
  }

  /** True when both hold the same hosts, in any order. */
  equals(other: Iterable<string>): boolean {
    const o = HostSet.from(iterableOf(other, 'equals'));
    return o.size === this.size && this.#list.every((h) => o.has(h));
  }

  /** The folded form, like `web[1-3,7].prod,db1`, in natural order. */
  toString(): string {
    return (this.#folded ??= foldDistinct(this.#list).join(','));
  }

  toJSON(): string[] {
    return this.hosts;
  }

  [Symbol.iterator](): Iterator<string> {
    return this.#list[Symbol.iterator]();
  }

  #filter(keep: (host: string) => boolean): HostSet {
    const list = this.#list.filter(keep);
    return list.length === this.#list.length ? this : new HostSet(list, new Set(list));
  }
}

function context(options: HostSetOptions): ExpandContext {
  const maxHosts = options.maxHosts ?? DEFAULT_MAX_HOSTS;
  if (!Number.isSafeInteger(maxHosts) || maxHosts < 1) {
    throw new UsageError(`option maxHosts: expected a whole number of 1 or more, got ${describe(maxHosts)}`);
  }
  return {
    groups: options.groups,
    readFile: options.readFile ?? ((path) => readFileSync(path, 'utf8')),
    cwd: options.cwd ?? process.cwd(),
    home: homedir(),
    maxHosts,
  };
}

/** The hosts of an expression, in order: HostSet.parse(expression, options).hosts. */
export function expand(expression: string, options?: HostSetOptions): string[] {
  return HostSet.parse(expression, options).hosts;
}

function iterableOf<T>(value: Iterable<T>, where: string): Iterable<T> {
  if (typeof value === 'string') {
    throw new UsageError(
      `${where}: expected a HostSet or a list of hosts, got a string; use HostSet.parse()`,
    );
  }
  if (value == null || typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function') {
    throw new UsageError(`${where}: expected a HostSet or a list of hosts, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'object' ? (Array.isArray(value) ? 'a list' : 'an object') : typeof value;
}
