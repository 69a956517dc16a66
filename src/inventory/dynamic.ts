// Dynamic inventories: groups whose hosts come from a command (`command: ./hosts-from-consul.sh`).
// Each distinct command runs once per load, with `--list` as Ansible runs an inventory script (and,
// when its JSON has no `_meta.hostvars`, once more per host with `--host NAME`), all within the
// group's commandTimeout. Its output becomes groups of the inventory:
//
//   consul              every host the command lists; Ansible's `all` vars are its settings
//   consul.webservers   each group of the output under the command's group, children as children
//
// (inventoryFromCommand without a group: `all`, and the output's groups under their own names)
// and each host's `_meta.hostvars` a settings layer that applies after every group's (and before the
// file's `hosts:` entries). What is left out (vars that cannot be environment variables, ssh
// arguments fleetsh has no setting for, ...) comes back as warnings, one per kind and command.
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import {
  readCommandOutput,
  readHostVars,
  settingsOfVars,
  type CommandOutput,
  type VarNote,
  type Vars,
} from './ansible.js';
import type { InventoryIssue } from './errors.js';
import { fold } from './fold.js';
import type { CommandDef, GroupDef, Located, SettingsLayer } from './inventory-file.js';
import { CommandRunError, runCommand } from './run-command.js';

/**
 * A bound, not a measurement: Ansible sets none, and a listing from a cloud API can take seconds;
 * a command still running after this long is taken to be hung. `commandTimeout` changes it.
 */
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** `--host` calls at once when the output has no `_meta.hostvars`: a bound on processes, not tuned. */
const HOST_CALLS_AT_ONCE = 8;

export interface DynamicContext {
  file: string;
  /** The inventory's folder: where commands run and relative paths start. */
  dir: string;
  maxHosts: number;
}

export interface Expanded {
  /** The groups with each command group's hosts and sub-groups (right after it, in file order). */
  groups: GroupDef[];
  /** Each host's `_meta.hostvars` (or `--host`) layers, in group order. */
  hostLayers: Map<string, SettingsLayer[]>;
  warnings: InventoryIssue[];
  issues: InventoryIssue[];
}

/**
 * Runs the commands of `groups` (each distinct one once) and expands their groups. A group named ''
 * stands for a command whose groups are top-level (inventoryFromCommand): it becomes `all`.
 */
export async function expandCommandGroups(groups: GroupDef[], ctx: DynamicContext): Promise<Expanded> {
  const out: Expanded = { groups: [], hostLayers: new Map(), warnings: [], issues: [] };
  const runs = new Map<string, Promise<CommandOutput>>();
  // Two groups with the same command share one run, with the longer of their timeouts.
  const timeouts = new Map<string, number>();
  for (const def of groups) {
    if (!def.command) continue;
    const key = runKey(def.command.argv, ctx.dir);
    const timeout = def.command.timeout ?? DEFAULT_COMMAND_TIMEOUT_MS;
    timeouts.set(key, Math.max(timeouts.get(key) ?? 0, timeout));
  }
  for (const def of groups) {
    if (!def.command) continue;
    const key = runKey(def.command.argv, ctx.dir);
    if (runs.has(key)) continue;
    const run = list(def.command.argv, ctx, timeouts.get(key)!);
    run.catch(() => {}); // awaited below, maybe after it failed
    runs.set(key, run);
  }
  const taken = new Set(groups.map((g) => g.name));
  const expanded = new Set<string>();
  for (const def of groups) {
    if (!def.command) {
      out.groups.push(def);
      continue;
    }
    const command = def.command;
    const who = def.name === '' ? 'the inventory command' : `the command of @${def.name}`;
    const located = (message: string): InventoryIssue => ({
      file: ctx.file,
      line: command.line,
      path: command.path,
      message,
    });
    const key = runKey(command.argv, ctx.dir);
    let output: CommandOutput;
    try {
      output = await runs.get(key)!;
    } catch (e) {
      if (!(e instanceof CallError)) throw e;
      out.issues.push(located(`${who}, ${shown(command.argv, e.call)}, ${e.message}`));
      continue;
    }
    const subject = `${who} (${shown(command.argv)})`;
    // A second group of the same command gets its groups; the host layers and notes are there once.
    const again = expanded.has(key);
    expanded.add(key);
    expandOne(
      def,
      output,
      ctx,
      taken,
      again,
      out,
      (message) => out.issues.push(located(`${subject} ${message}`)),
      (message) => out.warnings.push(located(`${subject}: ${message}`)),
    );
  }
  return out;
}

/** The command's groups as inventory groups, its host vars as layers. */
function expandOne(
  def: GroupDef,
  output: CommandOutput,
  ctx: DynamicContext,
  taken: Set<string>,
  again: boolean,
  out: Expanded,
  issue: (message: string) => void,
  warn: (message: string) => void,
): void {
  const at: Located = { line: def.command!.line, path: def.command!.path };
  const prefix = def.name === '' ? '' : `${def.name}.`;
  const notes = new Notes();
  const layer = (vars: Vars, where: string): SettingsLayer | undefined => {
    try {
      return settingsOfVars(vars, ctx.dir, (n) => notes.add(n, where));
    } catch (e) {
      issue(`printed a variable fleetsh cannot use: ${where}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const allLayer = layer(output.allVars, 'group all') ?? {};
  const groups: GroupDef[] = [];
  for (const g of output.groups) {
    const name = prefix + g.name;
    if (taken.has(name)) {
      issue(`lists group ${g.name}, which would be @${name}, a group this file already has: rename one`);
      continue;
    }
    taken.add(name);
    groups.push({
      ...at,
      name,
      hosts: [],
      names: g.hosts,
      children: g.children.map((c) => ({ ...at, name: prefix + c })),
      settings: layer(g.vars, `group ${g.name}`) ?? {},
    });
  }
  for (const [host, vars] of again ? [] : (output.hostvars ?? [])) {
    const hostLayer = layer(vars, host);
    if (!hostLayer) continue;
    const list = out.hostLayers.get(host) ?? [];
    list.push(hostLayer);
    out.hostLayers.set(host, list);
  }
  out.groups.push(
    {
      ...def,
      name: def.name === '' ? 'all' : def.name,
      names: output.hosts,
      // Its groups are its children: deeper than it, so their settings override its own.
      children: groups.map((g) => ({ ...at, name: g.name })),
      settings: merge(def.settings, allLayer),
    },
    ...groups,
  );
  if (!again) for (const w of notes.warnings()) warn(w);
}

/** Runs `--list`, then `--host NAME` for each host when the output has no `_meta.hostvars`. */
async function list(argv: string[], ctx: DynamicContext, timeoutMs: number): Promise<CommandOutput> {
  const deadline = Date.now() + timeoutMs;
  // When one call fails, the calls still running are stopped (and awaited): none outlives the load.
  const stop = new AbortController();
  const program = programPath(argv[0]!, ctx.dir);
  const args = argv.slice(1);
  const call = async <T>(extra: string[], read: (text: string) => T): Promise<T> => {
    let text: string;
    try {
      text = await runCommand(program, [...args, ...extra], ctx.dir, deadline - Date.now(), stop.signal);
    } catch (e) {
      if (!(e instanceof CommandRunError)) throw e;
      // The end of its stderr, when it ran and wrote something there: usually the reason.
      const stderr = e.stderr ? `; its stderr ends with:\n    ${e.stderr.split('\n').join('\n    ')}` : '';
      throw new CallError(extra, `${e.message}${stderr}`);
    }
    try {
      return read(text);
    } catch (e) {
      throw new CallError(extra, `printed output fleetsh cannot use: ${(e as Error).message}`);
    }
  };
  const output = await call(['--list'], (text) => readCommandOutput(text, ctx.maxHosts));
  if (output.hostvars) return output;
  const hostvars = new Map<string, Vars>();
  const queue = [...output.hosts];
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    for (let host = queue.shift(); host !== undefined; host = queue.shift()) {
      try {
        hostvars.set(host, await call(['--host', host], readHostVars));
      } catch (error) {
        failed ??= { error };
        queue.length = 0; // one failure fails the command: start no more calls
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HOST_CALLS_AT_ONCE, queue.length) }, worker));
  if (failed) throw failed.error;
  // In the order the output lists the hosts, whatever order the calls ended in.
  output.hostvars = new Map(output.hosts.map((h) => [h, hostvars.get(h)!]));
  return output;
}

/** One call of a command (`--list`, `--host NAME`) that failed, and why. */
class CallError extends Error {
  readonly call: string[];
  constructor(call: string[], reason: string) {
    super(reason);
    this.call = call;
  }
}

/** A relative path (with a "/") starts at the inventory's folder; a bare name is looked up on the PATH. */
function programPath(program: string, dir: string): string {
  if (program === '~' || program.startsWith('~/')) return resolve(homedir(), program.slice(2));
  return program.includes('/') ? resolve(dir, program) : program;
}

function runKey(argv: string[], dir: string): string {
  return JSON.stringify([programPath(argv[0]!, dir), ...argv.slice(1)]);
}

/** The command as written (and the arguments of one call), for messages; words with spaces in JSON quotes. */
function shown(argv: string[], call: string[] = []): string {
  return [...argv, ...call].map((w) => (/^[\w./~:=@%+,-]+$/.test(w) ? w : JSON.stringify(w))).join(' ');
}

/** Settings of a wider level, then a narrower one: vars merge key by key, the rest is replaced. */
function merge(wide: SettingsLayer, narrow: SettingsLayer): SettingsLayer {
  const merged: SettingsLayer = { ...wide, ...narrow };
  if (wide.vars || narrow.vars) merged.vars = { ...wide.vars, ...narrow.vars };
  return merged;
}

/** Notes on what was left out, gathered by kind and item with where each was seen. */
class Notes {
  readonly #byKind = new Map<VarNote['kind'], Map<string, Set<string>>>();

  add(note: VarNote, where: string): void {
    const items = this.#byKind.get(note.kind) ?? new Map<string, Set<string>>();
    this.#byKind.set(note.kind, items);
    const places = items.get(note.item) ?? new Set<string>();
    places.add(where);
    items.set(note.item, places);
  }

  warnings(): string[] {
    const out: string[] = [];
    for (const [kind, items] of this.#byKind) {
      const shownItems = [...items].slice(0, 5).map(([item, where]) => `${item} (${places(where)})`);
      if (items.size > 5) shownItems.push(`and ${items.size - 5} more`);
      out.push(`${HEADS[kind]}: ${shownItems.join(', ')}`);
    }
    return out;
  }
}

const HEADS: Record<VarNote['kind'], string> = {
  'not-env-name': 'variables whose names cannot be environment variable names were left out',
  'ssh-arg': 'ssh arguments that fleetsh has no setting for were ignored',
  connection: 'fleetsh reaches every host over SSH, whatever ansible_connection says',
  password: 'fleetsh takes no passwords from an inventory (use keys or ssh-agent); ignored',
};

/** Groups as they are, hosts folded. */
function places(set: Set<string>): string {
  const where = [...set];
  const groups = where.filter((w) => w.startsWith('group '));
  const hosts = where.filter((w) => !w.startsWith('group '));
  return [...groups, ...(hosts.length > 0 ? [fold(hosts)] : [])].join(', ');
}
