// Reads the inventory YAML into a checked model, collecting every problem with its line and key.
// Host set expressions are kept as text here; inventory.ts parses and resolves them. A group's
// `command:` is kept as its argument list here; dynamic.ts runs it.
import { isAbsolute, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { InventoryIssue } from './errors.js';
import { isGroupName } from './parse.js';
import { parseDuration } from '../process/duration.js';
import { HOST_KEY_POLICIES, SSH_TRANSPORTS, type HostKeyPolicy, type SshTransport } from '../ssh/types.js';
import { didYouMean } from './suggest.js';

/** Settings as written at one level (defaults, a group, a host); undefined: not set there. */
export interface SettingsLayer {
  /** The name or address to dial (Ansible's ansible_host); default: the host's name. */
  address?: string;
  user?: string;
  port?: number;
  identity?: string;
  /** null: `jump: none`, no jump host even if a wider level sets one. */
  jump?: string | null;
  hostKeyPolicy?: HostKeyPolicy;
  /** Milliseconds. */
  connectTimeout?: number;
  /** What carries the connection: 'ssh2' or 'openssh' (the system ssh). */
  transport?: SshTransport;
  /** Agent forwarding (`ssh -A`): true, false, or the ssh-agent socket to forward (absolute or `~/`). */
  forwardAgent?: boolean | string;
  /** The scale-out zone whose fleetsh workers reach the host (docs/scale-out.md); default 'default'. */
  zone?: string;
  vars?: Record<string, unknown>;
}

/** The settings for one host after merging every level that applies to it. */
export interface HostSettings {
  address?: string;
  user?: string;
  port?: number;
  identity?: string;
  jump?: string;
  hostKeyPolicy?: HostKeyPolicy;
  /** Milliseconds. */
  connectTimeout?: number;
  transport?: SshTransport;
  forwardAgent?: boolean | string;
  zone?: string;
  vars: Record<string, unknown>;
}

const SETTING_KEYS = [
  'address',
  'user',
  'port',
  'identity',
  'jump',
  'hostKeyPolicy',
  'connectTimeout',
  'transport',
  'forwardAgent',
  'zone',
  'vars',
] as const;
/** The keys of a group besides its settings. */
const GROUP_KEYS = ['hosts', 'children', 'command', 'commandTimeout'];

/** Where something was written: 1-based line and key path. */
export interface Located {
  line: number | undefined;
  path: string;
}

export interface ExpressionDef extends Located {
  expression: string;
}

export interface GroupDef extends Located {
  name: string;
  hosts: ExpressionDef[];
  /** Host names as they are (not parsed): the hosts a command listed. */
  names?: string[];
  children: (Located & { name: string })[];
  settings: SettingsLayer;
  /** `command:` — the group takes its hosts (and sub-groups) from this command's output. */
  command?: CommandDef;
}

/** A group's `command:` as written: the program and its arguments, and `commandTimeout`. */
export interface CommandDef extends Located {
  /** The program (relative paths start at the inventory's folder) and its arguments. */
  argv: string[];
  /** Milliseconds; undefined: the default. */
  timeout: number | undefined;
}

export interface HostDef extends Located {
  expression: string;
  settings: SettingsLayer;
}

export interface InventoryModel {
  defaults: SettingsLayer;
  hosts: HostDef[];
  groups: GroupDef[];
}

interface Entry {
  key: string;
  keyNode: unknown;
  value: unknown;
  path: string;
}

/** Parses the YAML text of `file`; relative identity paths start at `dir`. */
export function readInventoryModel(
  text: string,
  file: string,
  dir: string,
): { model: InventoryModel; issues: InventoryIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const reader = new Reader(doc, lineCounter, file, dir);
  const model: InventoryModel = { defaults: {}, hosts: [], groups: [] };
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      reader.issues.push({
        file,
        line: e.linePos?.[0].line ?? lineCounter.linePos(e.pos[0]).line,
        path: '',
        message: `invalid YAML: ${e.message}`,
      });
    }
    return { model, issues: reader.issues };
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    return { model, issues: [] };
  }
  for (const entry of reader.entries(doc.contents, '', 'a mapping with defaults, hosts and groups') ?? []) {
    if (entry.key === 'defaults') model.defaults = reader.settings(entry.value, entry.path);
    else if (entry.key === 'hosts') model.hosts = reader.hosts(entry.value, entry.path);
    else if (entry.key === 'groups') model.groups = reader.groups(entry.value, entry.path);
    else reader.unknownKey(entry, ['defaults', 'hosts', 'groups']);
  }
  return { model, issues: reader.issues };
}

class Reader {
  readonly issues: InventoryIssue[] = [];

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly file: string,
    private readonly dir: string,
  ) {}

  line(node: unknown): number | undefined {
    const range = (node as { range?: readonly number[] } | null)?.range;
    return range ? this.lines.linePos(range[0]!).line : undefined;
  }

  issue(node: unknown, path: string, message: string): void {
    this.issues.push({ file: this.file, line: this.line(node), path, message });
  }

  /** Follows an alias (`*name`) to the node it names. */
  deref(node: unknown): unknown {
    if (!isAlias(node)) return node;
    try {
      return node.resolve(this.doc) ?? node;
    } catch {
      return node;
    }
  }

  /** A mapping's entries, with `<<: *anchor` merges applied (the mapping's own keys win). */
  entries(node: unknown, path: string, what: string, depth = 0): Entry[] | undefined {
    const map = this.deref(node);
    if (!isMap(map)) {
      this.issue(node, path, `expected ${what}, got ${describe(map)}`);
      return undefined;
    }
    const merged = new Map<string, Entry>();
    const own: Entry[] = [];
    for (const pair of map.items) {
      const keyNode = pair.key;
      if (!isScalar(keyNode) || (typeof keyNode.value !== 'string' && typeof keyNode.value !== 'number')) {
        this.issue(keyNode ?? node, path, `keys must be plain names, got ${describe(keyNode)}`);
        continue;
      }
      const key = String(keyNode.value);
      if (key === '<<' && depth < 8) {
        const sources = this.deref(pair.value);
        for (const source of isSeq(sources) ? sources.items : [pair.value]) {
          for (const e of this.entries(source, path, 'a mapping to merge with <<', depth + 1) ?? []) {
            if (!merged.has(e.key)) merged.set(e.key, e);
          }
        }
        continue;
      }
      own.push({ key, keyNode, value: pair.value, path: join(path, key) });
    }
    for (const e of own) merged.delete(e.key);
    return [...merged.values(), ...own];
  }

  unknownKey(entry: Entry, allowed: readonly string[]): void {
    const hint = didYouMean(entry.key, allowed) || `; expected one of ${allowed.join(', ')}`;
    this.issue(entry.keyNode, entry.path, `unknown key "${entry.key}"${hint}`);
  }

  /** Connection settings; keys in `handled` are the caller's (a group's hosts and children). */
  settings(node: unknown, path: string, entries?: Entry[], handled: readonly string[] = []): SettingsLayer {
    const layer: SettingsLayer = {};
    if (entries === undefined) {
      if (this.isNull(node)) return layer;
      entries = this.entries(node, path, 'a mapping of settings (user, port, identity, …)') ?? [];
    }
    for (const e of entries) {
      switch (e.key) {
        case 'address':
          layer.address = this.string(e);
          break;
        case 'user':
          layer.user = this.string(e);
          break;
        case 'port':
          layer.port = this.port(e);
          break;
        case 'identity': {
          const path = this.string(e);
          if (path !== undefined) layer.identity = this.expandPath(path);
          break;
        }
        case 'jump': {
          const jump = this.string(e);
          if (jump !== undefined) layer.jump = jump === 'none' ? null : jump;
          break;
        }
        case 'hostKeyPolicy':
          layer.hostKeyPolicy = this.hostKeyPolicy(e);
          break;
        case 'connectTimeout':
          layer.connectTimeout = this.duration(e);
          break;
        case 'transport':
          layer.transport = this.oneOf(e, SSH_TRANSPORTS);
          break;
        case 'forwardAgent':
          layer.forwardAgent = this.forwardAgent(e);
          break;
        case 'zone':
          layer.zone = this.zone(e);
          break;
        case 'vars':
          layer.vars = this.vars(e);
          break;
        default:
          if (!handled.includes(e.key)) this.unknownKey(e, [...handled, ...SETTING_KEYS]);
      }
    }
    for (const key of SETTING_KEYS) if (layer[key] === undefined) delete layer[key];
    return layer;
  }

  hosts(node: unknown, path: string): HostDef[] {
    const seq = this.deref(node);
    if (this.isNull(seq)) return [];
    if (isSeq(seq)) {
      return seq.items.flatMap((item, i) => {
        const expression = this.expression(item, `${path}[${i}]`);
        return expression === undefined
          ? []
          : [{ expression, settings: {}, line: this.line(item), path: `${path}[${i}]` }];
      });
    }
    const out: HostDef[] = [];
    for (const e of this.entries(node, path, 'a mapping of hosts to their settings, or a list of hosts') ??
      []) {
      out.push({
        expression: e.key,
        settings: this.settings(e.value, e.path),
        line: this.line(e.keyNode),
        path: e.path,
      });
    }
    return out;
  }

  groups(node: unknown, path: string): GroupDef[] {
    if (this.isNull(this.deref(node))) return [];
    const out: GroupDef[] = [];
    for (const e of this.entries(node, path, 'a mapping of group names to groups') ?? []) {
      if (!isGroupName(e.key)) {
        this.issue(e.keyNode, e.path, 'a group name may hold only letters, digits, ".", "_", ":" and "-"');
        continue;
      }
      out.push(this.group(e));
    }
    return out;
  }

  group(e: Entry): GroupDef {
    const group: GroupDef = {
      name: e.key,
      hosts: [],
      children: [],
      settings: {},
      line: this.line(e.keyNode),
      path: e.path,
    };
    const value = this.deref(e.value);
    if (this.isNull(value)) return group;
    if (!isMap(value)) {
      group.hosts = this.expressions(e.value, e.path);
      return group;
    }
    const entries = this.entries(value, e.path, 'a group') ?? [];
    let command: Entry | undefined;
    let timeout: Entry | undefined;
    for (const sub of entries) {
      if (sub.key === 'hosts') group.hosts = this.expressions(sub.value, sub.path);
      else if (sub.key === 'children') group.children = this.children(sub.value, sub.path);
      else if (sub.key === 'command') command = sub;
      else if (sub.key === 'commandTimeout') timeout = sub;
    }
    group.settings = this.settings(value, e.path, entries, GROUP_KEYS);
    if (command) {
      const listed = entries.find((sub) => sub.key === 'hosts' || sub.key === 'children');
      if (listed) {
        this.issue(
          listed.keyNode,
          listed.path,
          `a group with a command takes its hosts from the command; list other hosts in another group`,
        );
      }
      const argv = this.argv(command);
      if (argv) {
        group.command = {
          argv,
          timeout: timeout && this.duration(timeout),
          line: this.line(command.keyNode),
          path: command.path,
        };
      }
    } else if (timeout) {
      this.issue(timeout.keyNode, timeout.path, 'commandTimeout is for a group with a command:');
    }
    return group;
  }

  /** `command: ./hosts.sh` or `command: [./ec2.py, --refresh-cache]`: a program and its arguments, no shell. */
  argv(e: Entry): string[] | undefined {
    const n = this.deref(e.value);
    const word = (item: unknown) => {
      const w = this.deref(item);
      return isScalar(w) && (typeof w.value === 'string' || typeof w.value === 'number')
        ? String(w.value)
        : undefined;
    };
    const argv = isSeq(n) ? n.items.map(word) : [word(n)];
    if (argv.length > 0 && argv.every((w) => w !== undefined) && argv[0]!.trim() !== '')
      return argv as string[];
    this.issue(
      e.value,
      e.path,
      `expected a program to run, like ./hosts.sh, or a list of the program and its arguments, got ${describe(n)}`,
    );
    return undefined;
  }

  /** One host set expression, or a list of them (united). */
  expressions(node: unknown, path: string): ExpressionDef[] {
    const seq = this.deref(node);
    if (this.isNull(seq)) return [];
    const items = isSeq(seq)
      ? seq.items.map((item, i) => ({ item, path: `${path}[${i}]` }))
      : [{ item: node, path }];
    return items.flatMap(({ item, path }) => {
      const expression = this.expression(item, path);
      return expression === undefined ? [] : [{ expression, line: this.line(item), path }];
    });
  }

  children(node: unknown, path: string): (Located & { name: string })[] {
    const seq = this.deref(node);
    if (this.isNull(seq)) return [];
    if (!isSeq(seq)) {
      this.issue(node, path, `expected a list of group names, got ${describe(seq)}`);
      return [];
    }
    return seq.items.flatMap((item, i) => {
      const n = this.deref(item);
      const at = `${path}[${i}]`;
      if (!isScalar(n) || typeof n.value !== 'string' || !isGroupName(n.value.replace(/^@/, ''))) {
        this.issue(item, at, `expected a group name, got ${describe(n)}`);
        return [];
      }
      return [{ name: n.value.replace(/^@/, ''), line: this.line(item), path: at }];
    });
  }

  expression(node: unknown, path: string): string | undefined {
    const n = this.deref(node);
    if (isScalar(n) && typeof n.value === 'string') return n.value;
    this.issue(node, path, `expected a host set expression like 'web[1-3].prod', got ${describe(n)}`);
    return undefined;
  }

  string(e: Entry): string | undefined {
    const n = this.deref(e.value);
    if (isScalar(n) && typeof n.value === 'string' && n.value.trim() !== '') return n.value;
    this.issue(
      e.value,
      e.path,
      `expected a ${isScalar(n) && n.value === '' ? 'non-empty ' : ''}string, got ${describe(n)}`,
    );
    return undefined;
  }

  port(e: Entry): number | undefined {
    const n = this.deref(e.value);
    if (!isScalar(n) || typeof n.value !== 'number') {
      this.issue(e.value, e.path, `expected a number, got ${describe(n)}`);
    } else if (!Number.isInteger(n.value) || n.value < 1 || n.value > 65535) {
      this.issue(e.value, e.path, `expected a port from 1 to 65535, got ${n.value}`);
    } else return n.value;
    return undefined;
  }

  /** A zone is one NATS subject token: letters, digits, _ and -. */
  zone(e: Entry): string | undefined {
    const n = this.deref(e.value);
    if (isScalar(n) && typeof n.value === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(n.value)) return n.value;
    this.issue(e.value, e.path, `expected a zone name (1 to 64 letters, digits, _ or -), got ${describe(n)}`);
    return undefined;
  }

  hostKeyPolicy(e: Entry): HostKeyPolicy | undefined {
    const n = this.deref(e.value);
    const value = isScalar(n) ? n.value : undefined;
    if (HOST_KEY_POLICIES.includes(value as HostKeyPolicy)) return value as HostKeyPolicy;
    const hint = typeof value === 'string' ? didYouMean(value, HOST_KEY_POLICIES) : '';
    this.issue(e.value, e.path, `expected one of ${HOST_KEY_POLICIES.join(', ')}, got ${describe(n)}${hint}`);
    return undefined;
  }

  /** true, false, or an ssh-agent socket's path: absolute, or from `~/` (kept for the target to expand). */
  forwardAgent(e: Entry): boolean | string | undefined {
    const n = this.deref(e.value);
    if (isScalar(n) && typeof n.value === 'boolean') return n.value;
    if (isScalar(n) && typeof n.value === 'string' && /^(\/|~\/)./.test(n.value))
      return this.expandPath(n.value);
    this.issue(
      e.value,
      e.path,
      `expected true, false or an ssh-agent socket path (absolute or ~/...), got ${describe(n)}`,
    );
    return undefined;
  }

  /** One of a few words (transport: ssh2 or openssh). */
  oneOf<T extends string>(e: Entry, words: readonly T[]): T | undefined {
    const n = this.deref(e.value);
    const value = isScalar(n) ? n.value : undefined;
    if (words.includes(value as T)) return value as T;
    const hint = typeof value === 'string' ? didYouMean(value, words) : '';
    this.issue(e.value, e.path, `expected one of ${words.join(', ')}, got ${describe(n)}${hint}`);
    return undefined;
  }

  /** A duration with its unit (a bare number could be seconds or milliseconds, so it is refused). */
  duration(e: Entry): number | undefined {
    const n = this.deref(e.value);
    if (isScalar(n) && typeof n.value === 'string' && /^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$/.test(n.value)) {
      const ms = parseDuration(n.value, e.path);
      if (ms > 0) return ms;
    }
    this.issue(e.value, e.path, `expected a duration with its unit, like 10s or 500ms, got ${describe(n)}`);
    return undefined;
  }

  vars(e: Entry): Record<string, unknown> | undefined {
    const n = this.deref(e.value);
    if (this.isNull(n)) return {};
    if (!isMap(n)) {
      this.issue(e.value, e.path, `expected a mapping of variables, got ${describe(n)}`);
      return undefined;
    }
    try {
      return { ...(n.toJS(this.doc, { maxAliasCount: 100 }) as Record<string, unknown>) };
    } catch (err) {
      this.issue(
        e.value,
        e.path,
        `cannot read variables: ${err instanceof Error ? err.message : String(err)}`,
      );
      return undefined;
    }
  }

  isNull(node: unknown): boolean {
    return node === null || node === undefined || (isScalar(node) && node.value === null);
  }

  expandPath(path: string): string {
    return path === '~' || path.startsWith('~/') || isAbsolute(path) ? path : resolve(this.dir, path);
  }
}

/** A key path as an operator reads it: groups.web.port, hosts["db1.prod"].port. */
function join(base: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return `an alias *${node.source}`;
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'nothing';
    if (typeof v === 'string') return JSON.stringify(v);
    return String(v);
  }
  return String(node);
}
