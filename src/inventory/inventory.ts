// The inventory: which hosts exist, how they are grouped, and how to connect to each. Pure data:
// nothing here connects anywhere.
//
// The file (YAML, default ./fleetsh.yml):
//
//   defaults:                      # every host
//     address: 10.0.0.5            # the name or address to dial (default: the host's name)
//     user: deploy
//     port: 22
//     identity: ~/.ssh/id_ed25519  # relative paths start at this file's folder
//     jump: bastion                # ProxyJump syntax; `none` cancels a jump set at a wider level
//     hostKeyPolicy: strict        # strict | accept-new | off
//     connectTimeout: 10s          # a unit is required: 500ms, 10s, 2m
//     transport: openssh           # ssh2 (default) | openssh: the system ssh (docs/ssh.md)
//     forwardAgent: true           # ssh -A; or the agent socket to forward: ~/.ssh/agent.sock
//     zone: eu-west                # scale-out: the workers that reach the host (default: default)
//     vars: { region: eu }
//   hosts:                         # optional, per host; a key may be a pattern: web[1-3].prod
//     db1.prod: { port: 2222, vars: { role: primary } }
//     db2.prod:                    # a host with no settings of its own
//   groups:
//     web: { hosts: 'web[1-3].prod', user: www, vars: { tier: web } }
//     api: 'api[1-2].prod'         # short form: just the hosts (a list of expressions works too)
//     db: { hosts: [db1.prod, db2.prod] }
//     prod: { children: [web, api, db] }      # nested groups
//     canary: { hosts: '@web&web1.prod' }     # expressions may use other groups and ^files
//     consul:                                  # hosts from a command (dynamic.ts): one a line, or
//       command: ./hosts-from-consul.sh        # Ansible's --list JSON, its groups as @consul.NAME
//       commandTimeout: 30s
//
// Settings of a host, lowest to highest precedence: defaults; then each group holding the host,
// shallower groups before deeper ones (a child group overrides its parent; depth is the longest
// chain of children and @references from a top group), groups of equal depth in file order (later
// wins); then the host's variables from a command (Ansible's `_meta.hostvars`); then the `hosts:`
// entries matching the host, in file order. `vars` merge key by key in the
// same order; the other settings are replaced whole. Unset settings stay undefined, so that
// ~/.ssh/config and OpenSSH's defaults still apply to them.
import { readFile as readFileAsync } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { HostSetError, InventoryError, type InventoryIssue } from './errors.js';
import { describeIoError, type GroupResolver } from './expand.js';
import { DEFAULT_INVENTORY } from './default-inventory.js';
import { expandCommandGroups } from './dynamic.js';
import { DEFAULT_MAX_HOSTS, HostSet, type HostSetOptions } from './hostset.js';
import {
  readInventoryModel,
  type GroupDef,
  type InventoryModel,
  type HostDef,
  type HostSettings,
  type Located,
  type SettingsLayer,
} from './inventory-file.js';
import { isGroupName, parseExpression } from './parse.js';
import { inventoryTarget, type InventoryTarget } from './ssh-target.js';
import { didYouMean } from './suggest.js';
import { parseDuration, type Duration } from '../process/duration.js';
import { UsageError } from '../process/errors.js';

export { DEFAULT_INVENTORY };
export type { HostSettings, InventoryTarget };

export interface InventoryOptions {
  /** As shown in messages; default: the path given to loadInventory, or "inventory". */
  file?: string;
  /** Where relative ^file and identity paths start; default: the file's folder, or process.cwd(). */
  dir?: string;
  /** See HostSetOptions.maxHosts. */
  maxHosts?: number;
  /** Reads ^files in group expressions; default fs.readFileSync. */
  readFile?: (path: string) => string;
}

export interface CommandInventoryOptions extends InventoryOptions {
  /**
   * The group that gets every host the command lists, its groups becoming `group.NAME`. Default:
   * none, the command's groups are the inventory's groups (and `@all` its hosts).
   */
  group?: string;
  /** The command must have printed its hosts within this long, or it is killed; default 30 s. */
  timeout?: Duration;
}

export interface SelectOptions {
  /** Groups the caller adds, such as `failed` from the last run; they win over the inventory's. */
  groups?: GroupResolver;
  /** Where relative ^file paths start; default process.cwd(). */
  cwd?: string;
}

/**
 * Reads and checks an inventory file, and runs the commands of its dynamic groups (each distinct
 * command once). Every problem is reported at once, as file:line: key: message.
 */
export async function loadInventory(
  path: string = DEFAULT_INVENTORY,
  options: InventoryOptions = {},
): Promise<Inventory> {
  const file = options.file ?? path;
  let text: string;
  try {
    text = await readFileAsync(path, 'utf8');
  } catch (e) {
    const message = `cannot read the inventory: ${describeIoError(e)}`;
    throw new InventoryError(file, [{ file, line: undefined, path: '', message }], { cause: e });
  }
  const dir = options.dir ?? dirname(resolve(path));
  const { model, issues } = readInventoryModel(text, file, dir);
  // A file with mistakes runs no commands.
  if (issues.length > 0 && model.groups.some((g) => g.command))
    throw new InventoryError(file, sorted(issues));
  return withCommands(model, issues, { ...options, dir, file });
}

/**
 * An inventory of the hosts a command prints: one a line, or Ansible's dynamic inventory JSON
 * (`command --list`), as a group's `command:` in a file is read. Relative paths start at
 * `options.dir` (default process.cwd()), where the command runs.
 */
export async function inventoryFromCommand(
  command: string | string[],
  options: CommandInventoryOptions = {},
): Promise<Inventory> {
  const argv = typeof command === 'string' ? [command] : command;
  if (
    !Array.isArray(argv) ||
    argv.length === 0 ||
    !argv.every((w) => typeof w === 'string') ||
    argv[0] === ''
  )
    throw new UsageError(
      'inventoryFromCommand: expected a program, or a list of a program and its arguments',
    );
  const { group, timeout, ...rest } = options;
  if (group !== undefined && !isGroupName(group))
    throw new UsageError(
      `inventoryFromCommand: option group: a group name may hold only letters, digits, ".", "_", ":" and "-"`,
    );
  const ms = timeout === undefined ? undefined : parseDuration(timeout, 'timeout');
  if (ms === 0) throw new UsageError('inventoryFromCommand: option timeout must be more than 0');
  const at = { line: undefined, path: '' };
  const def: GroupDef = {
    ...at,
    name: group ?? '',
    hosts: [],
    children: [],
    settings: {},
    command: { ...at, argv, timeout: ms },
  };
  return withCommands({ defaults: {}, hosts: [], groups: [def] }, [], { dir: process.cwd(), ...rest });
}

/** Runs the model's commands, then builds the inventory. */
async function withCommands(
  model: InventoryModel,
  issues: InventoryIssue[],
  options: InventoryOptions & { dir: string },
): Promise<Inventory> {
  const file = options.file ?? 'inventory';
  if (!model.groups.some((g) => g.command)) return build(model, issues, options);
  const expanded = await expandCommandGroups(model.groups, {
    file,
    dir: options.dir,
    maxHosts: options.maxHosts ?? DEFAULT_MAX_HOSTS,
  });
  // The command's problems alone: without its groups, the file's references to them would fail too.
  if (expanded.issues.length > 0) throw new InventoryError(file, sorted(expanded.issues));
  return build({ ...model, groups: expanded.groups }, issues, options, {
    hostLayers: expanded.hostLayers,
    warnings: expanded.warnings,
  });
}

/** Checks inventory YAML given as text. It runs no commands: a group with `command:` needs loadInventory(). */
export function parseInventory(text: string, options: InventoryOptions = {}): Inventory {
  const file = options.file ?? 'inventory';
  const dir = options.dir ?? process.cwd();
  const { model, issues } = readInventoryModel(text, file, dir);
  for (const g of model.groups) {
    if (!g.command) continue;
    const message = 'parseInventory() runs no commands: use loadInventory(file) for a group with a command';
    issues.push({ file, line: g.command.line, path: g.command.path, message });
    g.command = undefined;
  }
  return build(model, issues, { ...options, file, dir });
}

function build(
  model: InventoryModel,
  issues: InventoryIssue[],
  options: InventoryOptions,
  dynamic?: DynamicParts,
): Inventory {
  const file = options.file ?? 'inventory';
  const dir = options.dir ?? process.cwd();
  try {
    const inventory = new Inventory(
      file,
      model.defaults,
      model.groups,
      model.hosts,
      {
        cwd: dir,
        maxHosts: options.maxHosts ?? DEFAULT_MAX_HOSTS,
        readFile: options.readFile ?? ((p) => readFileSync(p, 'utf8')),
      },
      dynamic,
    );
    if (issues.length === 0) return inventory;
  } catch (e) {
    // Report the groups' problems along with the settings' problems, in line order.
    if (!(e instanceof InventoryError)) throw e;
    issues.push(...e.issues);
  }
  throw new InventoryError(file, sorted(issues));
}

function sorted(issues: InventoryIssue[]): InventoryIssue[] {
  return issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** What commands added: each host's own variables, and what was left out of them. */
interface DynamicParts {
  hostLayers: Map<string, SettingsLayer[]>;
  warnings: InventoryIssue[];
}

interface ResolvedGroup {
  def: GroupDef;
  hosts: HostSet;
  depth: number;
}

interface ParseEnv {
  cwd: string;
  maxHosts: number;
  readFile: (path: string) => string;
}

export class Inventory {
  readonly file: string;
  readonly #defaults: SettingsLayer;
  readonly #groups = new Map<string, ResolvedGroup>();
  /** Groups in the order settings apply: shallow before deep, then file order. */
  readonly #layered: ResolvedGroup[];
  readonly #hostEntries: { hosts: HostSet; settings: SettingsLayer }[] = [];
  readonly #all: HostSet;
  readonly #env: ParseEnv;
  readonly #hostLayers: Map<string, SettingsLayer[]>;
  /**
   * What the inventory's commands printed and fleetsh left out (variables that cannot be environment
   * variables, ssh arguments it has no setting for, ...), one per kind and command, at the command's line.
   */
  readonly warnings: readonly InventoryIssue[];

  /** Use loadInventory(), inventoryFromCommand() or parseInventory(). */
  constructor(
    file: string,
    defaults: SettingsLayer,
    groups: GroupDef[],
    hosts: HostDef[],
    env: ParseEnv,
    dynamic?: DynamicParts,
  ) {
    this.file = file;
    this.#defaults = defaults;
    this.#env = env;
    this.#hostLayers = dynamic?.hostLayers ?? new Map();
    this.warnings = dynamic?.warnings ?? [];
    const issues: InventoryIssue[] = [];
    const issue = (at: Located, message: string) =>
      issues.push({ file, line: at.line, path: at.path, message });
    resolveGroups(groups, env, issue, this.#groups);
    for (const h of hosts) {
      try {
        const set = HostSet.parse(h.expression, { ...env, groups: noGroupsInHostKeys });
        this.#hostEntries.push({ hosts: set, settings: h.settings });
      } catch (e) {
        issue(h, explain(e));
      }
    }
    if (issues.length > 0) throw new InventoryError(file, issues);
    this.#layered = [...this.#groups.values()].sort((a, b) => a.depth - b.depth);
    let all = HostSet.empty();
    for (const g of this.#groups.values()) all = all.union(g.hosts);
    for (const h of this.#hostEntries) all = all.union(h.hosts);
    this.#all = all;
  }

  /** The file's group names, in file order. (`@all`, every host, also works unless the file defines `all`.) */
  groups(): string[] {
    return [...this.#groups.keys()];
  }

  /** The hosts of a group (with or without its "@"). */
  resolveGroup(name: string): HostSet {
    const bare = name.startsWith('@') ? name.slice(1) : name;
    const found = this.#lookup(bare);
    if (found) return found;
    throw new UsageError(`${this.file}: unknown group "${bare}"${this.#suggest(bare)}`);
  }

  /** Every host the inventory names, in file order. */
  hosts(): HostSet {
    return this.#groups.get('all')?.hosts ?? this.#all;
  }

  /** A host set expression whose @groups are the inventory's (and the caller's, first). */
  select(expression: string, options: SelectOptions = {}): HostSet {
    return HostSet.parse(expression, this.#selecting(options));
  }

  /** A pasted list of hosts (HostSet.parseList: one expression a line) whose @groups are the inventory's. */
  selectList(text: string, options: SelectOptions & { source?: string } = {}): HostSet {
    return HostSet.parseList(text, { ...this.#selecting(options), source: options.source });
  }

  #selecting(options: SelectOptions): HostSetOptions {
    return {
      maxHosts: this.#env.maxHosts,
      readFile: this.#env.readFile,
      cwd: options.cwd ?? process.cwd(),
      groups: (name) => {
        const extra = options.groups?.(name);
        if (extra !== undefined) return extra;
        const found = this.#lookup(name);
        if (found) return found;
        throw new UsageError(`unknown group @${name}${this.#suggest(name)}`);
      },
    };
  }

  /** The groups holding `host`, in the order their settings apply. */
  groupsOf(host: string): string[] {
    return this.#layered.filter((g) => g.hosts.has(host)).map((g) => g.def.name);
  }

  /** The connection settings and variables of `host` (see the precedence at the top of this file). */
  settingsFor(host: string): HostSettings {
    const layers: SettingsLayer[] = [this.#defaults];
    for (const g of this.#layered) if (g.hosts.has(host)) layers.push(g.def.settings);
    layers.push(...(this.#hostLayers.get(host) ?? []));
    for (const h of this.#hostEntries) if (h.hosts.has(host)) layers.push(h.settings);
    const merged: Omit<SettingsLayer, 'vars'> = {};
    const vars: Record<string, unknown> = {};
    for (const { vars: layerVars, ...settings } of layers) {
      Object.assign(merged, settings);
      Object.assign(vars, layerVars);
    }
    const { jump, ...rest } = merged;
    // A copy, so that a caller changing its settings changes nobody else's.
    return { ...rest, ...(jump ? { jump } : {}), vars: structuredClone(vars) };
  }

  /**
   * `host` as a fleet target: its settings as `$.ssh` options (user → username, identity →
   * privateKey, ...) and its vars as the environment of its commands (other values than text as JSON).
   * A var whose name cannot be an environment variable's is a UsageError.
   */
  targetFor(host: string): InventoryTarget {
    return inventoryTarget(host, this.settingsFor(host));
  }

  #lookup(name: string): HostSet | undefined {
    return this.#groups.get(name)?.hosts ?? (name === 'all' ? this.#all : undefined);
  }

  #suggest(name: string): string {
    return didYouMean(name, [...this.#groups.keys(), 'all'], (g) => `@${g}`);
  }
}

function noGroupsInHostKeys(name: string): never {
  throw new UsageError(`a host entry cannot name a group: give @${name} its settings under groups:`);
}

/**
 * Resolves every group: parses its expressions, checks references and children, finds cycles,
 * then expands groups children first. Problems go to `issue`; resolved groups to `out`.
 */
function resolveGroups(
  defs: GroupDef[],
  env: ParseEnv,
  issue: (at: Located, message: string) => void,
  out: Map<string, ResolvedGroup>,
): void {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const suggest = (name: string) => didYouMean(name, byName.keys(), (g) => `@${g}`);
  // Edges from a group to the groups it takes hosts from, each with where it was written.
  const edges = new Map<string, { to: string; at: Located }[]>();
  let broken = false;
  for (const def of defs) {
    const list: { to: string; at: Located }[] = [];
    for (const expr of def.hosts) {
      try {
        for (const { term } of parseExpression(expr.expression, env.maxHosts).steps) {
          if (term.kind !== 'group') continue;
          let reason: string | undefined;
          if (term.name === 'all' && !byName.has('all')) {
            reason = '@all (every host of the inventory) cannot be used to define a group';
          } else if (!byName.has(term.name)) reason = `unknown group @${term.name}${suggest(term.name)}`;
          if (reason) throw new HostSetError(expr.expression, term.at, reason);
          list.push({ to: term.name, at: expr });
        }
      } catch (e) {
        issue(expr, explain(e));
        broken = true;
      }
    }
    for (const child of def.children) {
      if (!byName.has(child.name)) {
        issue(child, `unknown group "${child.name}"${didYouMean(child.name, byName.keys())}`);
        broken = true;
      } else list.push({ to: child.name, at: child });
    }
    edges.set(def.name, list);
  }

  // Depth-first, children before parents; a grey node met again closes a cycle (the first one
  // found is reported: the others may share its edges).
  const state = new Map<string, 'grey' | 'black'>();
  const order: string[] = [];
  const visit = (name: string, path: string[]): boolean => {
    state.set(name, 'grey');
    for (const { to, at } of edges.get(name)!) {
      if (state.get(to) === 'grey') {
        const cycle = [...path.slice(path.indexOf(to)), to].map((g) => `@${g}`).join(' → ');
        issue(at, `group cycle: ${cycle}`);
        return false;
      }
      if (state.get(to) === undefined && !visit(to, [...path, to])) return false;
    }
    state.set(name, 'black');
    order.push(name);
    return true;
  };
  for (const def of defs) if (state.get(def.name) === undefined && !visit(def.name, [def.name])) return;
  if (broken) return;

  // Depth: the longest chain from a group nobody includes.
  const depth = new Map<string, number>();
  for (const name of [...order].reverse()) {
    const d = depth.get(name) ?? 0;
    depth.set(name, d);
    for (const { to } of edges.get(name)!) depth.set(to, Math.max(depth.get(to) ?? 0, d + 1));
  }

  const resolved = new Map<string, HostSet>();
  for (const name of order) {
    const def = byName.get(name)!;
    let hosts = HostSet.empty();
    for (const expr of def.hosts) {
      try {
        hosts = hosts.union(HostSet.parse(expr.expression, { ...env, groups: (g) => resolved.get(g) }));
      } catch (e) {
        issue(expr, explain(e));
      }
    }
    if (def.names) hosts = hosts.union(def.names);
    for (const child of def.children) hosts = hosts.union(resolved.get(child.name) ?? []);
    if (hosts.size > env.maxHosts) issue(def, `group has more than ${env.maxHosts} hosts (maxHosts)`);
    resolved.set(name, hosts);
  }
  // File order, for groups() and for equal depths.
  for (const def of defs)
    out.set(def.name, { def, hosts: resolved.get(def.name)!, depth: depth.get(def.name)! });
}

function explain(e: unknown): string {
  if (e instanceof HostSetError) return e.detail;
  if (e instanceof UsageError) return e.message;
  throw e;
}
