// What an inventory command prints, read: one host a line, or the JSON of Ansible's dynamic
// inventory protocol (`--list`: groups with `hosts`, `vars` and `children`, and `_meta.hostvars`),
// read as Ansible's own script plugin reads it. And Ansible's variables as fleetsh settings: the
// connection variables (ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file,
// ansible_ssh_common_args) become settings, Ansible's other `ansible_*` variables are dropped (they
// configure Ansible, and some hold passwords), and the rest become vars: the environment of every
// command on the host, so a name that cannot be an environment variable's is left out with a note.
// Pure: nothing is run here.
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { isEnvName } from '../process/env.js';
import { UsageError } from '../process/errors.js';
import { HostSetError } from './errors.js';
import { HostSet } from './hostset.js';
import type { SettingsLayer } from './inventory-file.js';
import { isGroupName } from './parse.js';
import { parseSshArgs } from './ssh-args.js';

export type Vars = Record<string, unknown>;

/** A group of the command's output (Ansible's `all` aside). */
export interface OutputGroup {
  name: string;
  hosts: string[];
  children: string[];
  vars: Vars;
}

export interface CommandOutput {
  /** Every host the output lists, in the order it names them. */
  hosts: string[];
  /** The groups, in ASCII order of their names (Ansible's order for groups of equal depth). */
  groups: OutputGroup[];
  /** The vars of Ansible's `all` group: every host's. */
  allVars: Vars;
  /**
   * `_meta.hostvars`; undefined when the output has no `_meta.hostvars`, in which case Ansible asks
   * the command for each host's vars with `--host NAME` (and so does dynamic.ts).
   */
  hostvars: Map<string, Vars> | undefined;
}

/** Reads a command's stdout; throws an Error whose message says what is wrong and where. */
export function readCommandOutput(text: string, maxHosts: number): CommandOutput {
  return text.trimStart().startsWith('{') ? readAnsible(text) : readLines(text, maxHosts);
}

/** One host (or host-set pattern: web[1-3]) a line; `#` starts a comment, as in a ^file. */
function readLines(text: string, maxHosts: number): CommandOutput {
  const hosts = new Set<string>();
  const noGroups = (): never => {
    throw new UsageError('a command lists hosts, not @groups');
  };
  const noFiles = (): never => {
    throw new UsageError('a command lists hosts, not ^files');
  };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '');
    if (line.trim() === '') continue;
    try {
      for (const h of HostSet.parse(line, { groups: noGroups, readFile: noFiles, maxHosts })) hosts.add(h);
    } catch (e) {
      if (e instanceof HostSetError) throw new Error(`line ${i + 1} of its output: ${e.detail}`);
      throw e;
    }
    if (hosts.size > maxHosts) throw new Error(`it lists more than ${maxHosts} hosts (maxHosts)`);
  }
  return { hosts: [...hosts], groups: [], allVars: {}, hostvars: new Map() };
}

function readAnsible(text: string): CommandOutput {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `its output is not valid JSON (${(e as Error).message}); it starts: ${show(text.trim())}`,
    );
  }
  if (!isObject(data)) throw new Error('its JSON output is not an object of groups');
  const hosts = new Set<string>();
  const groups = new Map<string, OutputGroup>();
  const group = (name: string): OutputGroup => {
    if (!isGroupName(name)) {
      throw new Error(
        `group ${JSON.stringify(name)}: a group name may hold only letters, digits, ".", "_", ":" and "-"`,
      );
    }
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { name, hosts: [], children: [], vars: {} }));
    return g;
  };
  let allVars: Vars = {};
  for (const [name, raw] of Object.entries(data)) {
    if (name === '_meta') continue;
    const where = `group ${JSON.stringify(name)}`;
    // As Ansible reads a group: a list is its hosts; an object without hosts, vars or children is
    // a host of the group's name with those vars.
    let value: Record<string, unknown>;
    if (!isObject(raw)) value = { hosts: raw };
    else if (!('hosts' in raw || 'vars' in raw || 'children' in raw)) value = { hosts: [name], vars: raw };
    else value = raw;
    const listed = names(value.hosts, `${where}: hosts`, hostName);
    const children = names(value.children, `${where}: children`, (c) => (group(c), c));
    const vars = value.vars ?? {};
    if (!isObject(vars)) throw new Error(`${where}: vars: expected an object, got ${kind(vars)}`);
    for (const h of listed) hosts.add(h);
    if (name === 'all') {
      allVars = { ...allVars, ...vars };
      continue;
    }
    const g = group(name);
    for (const h of listed) if (!g.hosts.includes(h)) g.hosts.push(h);
    for (const c of children) if (!g.children.includes(c)) g.children.push(c);
    Object.assign(g.vars, vars);
  }
  groups.delete('all');
  for (const g of groups.values()) g.children = g.children.filter((c) => c !== 'all');

  let hostvars: Map<string, Vars> | undefined;
  const meta = data._meta;
  if (meta !== undefined && !isObject(meta)) throw new Error(`_meta: expected an object, got ${kind(meta)}`);
  if (meta && 'hostvars' in meta) {
    if (!isObject(meta.hostvars))
      throw new Error(`_meta.hostvars: expected an object, got ${kind(meta.hostvars)}`);
    hostvars = new Map();
    // Ansible takes the vars of the hosts its groups list, and ignores the others.
    for (const [host, vars] of Object.entries(meta.hostvars)) {
      if (!hosts.has(host)) continue;
      if (!isObject(vars)) throw new Error(`_meta.hostvars.${host}: expected an object, got ${kind(vars)}`);
      hostvars.set(host, vars);
    }
  }
  const sorted = [...groups.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { hosts: [...hosts], groups: sorted, allVars, hostvars };
}

/** The output of `--host NAME`: that host's vars. */
export function readHostVars(text: string): Vars {
  let data: unknown;
  try {
    data = text.trim() === '' ? {} : JSON.parse(text);
  } catch (e) {
    throw new Error(`its output is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(data)) throw new Error(`its output is not a JSON object of variables, got ${kind(data)}`);
  return data;
}

function names(value: unknown, where: string, check: (name: string) => string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${where}: expected a list of names, got ${kind(value)}`);
  return value.map((v) => {
    if (typeof v !== 'string') throw new Error(`${where}: expected names, got ${kind(v)}`);
    return check(v);
  });
}

const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** A host name must be one a host set can name (so `-w` can select it): letters, digits, ".", "_", "-". */
function hostName(name: string): string {
  if (HOST_NAME.test(name)) return name;
  throw new Error(
    `host ${show(name)}: a host name may hold only letters, digits, ".", "_" and "-" ` +
      '(give the address in ansible_host and a plain name here)',
  );
}

/** A note on variables that were not used, for a warning; `where` is a host or `@group`. */
export interface VarNote {
  /** What was left out or ignored, e.g. `"ec2_tag_aws:stack"` or `-o ServerAliveInterval=30`. */
  item: string;
  kind: 'not-env-name' | 'ssh-arg' | 'connection' | 'password';
}

/**
 * Ansible variables (of a host or a group) as a settings layer: connection variables as settings,
 * Ansible's other variables dropped, the rest as vars. Relative key paths start at `dir`. Throws an
 * Error naming the variable for a connection variable with a wrong value.
 */
export function settingsOfVars(vars: Vars, dir: string, note: (n: VarNote) => void): SettingsLayer {
  const layer: SettingsLayer = {};
  const own: Vars = {};
  const text = (name: string): string => {
    const v = vars[name];
    if (typeof v === 'string' && v.trim() !== '' && !/[\s\u0000-\u001f\u007f]/.test(v)) return v;
    throw new Error(`${name}: expected a name without spaces, got ${show(v)}`);
  };
  for (const name of Object.keys(vars)) {
    if (!name.startsWith('ansible_')) {
      if (isEnvName(name)) own[name] = vars[name];
      else note({ item: show(name), kind: 'not-env-name' });
    }
  }
  const first = (...names: string[]) => names.find((n) => vars[n] !== undefined && vars[n] !== null);
  const host = first('ansible_host', 'ansible_ssh_host');
  if (host) layer.address = text(host);
  const user = first('ansible_user', 'ansible_ssh_user');
  if (user) layer.user = text(user);
  const port = first('ansible_port', 'ansible_ssh_port');
  if (port) {
    const v = vars[port];
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new Error(`${port}: expected a port from 1 to 65535, got ${show(v)}`);
    layer.port = n;
  }
  if (vars.ansible_ssh_private_key_file !== undefined && vars.ansible_ssh_private_key_file !== null) {
    const path = vars.ansible_ssh_private_key_file;
    if (typeof path !== 'string' || path.trim() === '')
      throw new Error(`ansible_ssh_private_key_file: expected a path, got ${show(path)}`);
    layer.identity =
      path === '~' || path.startsWith('~/')
        ? resolve(homedir(), path.slice(2))
        : isAbsolute(path)
          ? path
          : resolve(dir, path);
  }
  for (const name of ['ansible_ssh_common_args', 'ansible_ssh_extra_args']) {
    const v = vars[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new Error(`${name}: expected text, got ${show(v)}`);
    let args;
    try {
      args = parseSshArgs(v);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
    // Set at this level, the common arguments replace a wider level's whole: no -J, no jump host.
    if (args.jump !== undefined) layer.jump = args.jump === 'none' ? null : args.jump;
    else if (name === 'ansible_ssh_common_args') layer.jump = null;
    if (args.hostKeyPolicy !== undefined) layer.hostKeyPolicy = args.hostKeyPolicy;
    if (args.connectTimeout !== undefined) layer.connectTimeout = args.connectTimeout;
    for (const item of args.ignored) note({ item, kind: 'ssh-arg' });
  }
  const connection = vars.ansible_connection;
  if (
    connection !== undefined &&
    connection !== null &&
    !['ssh', 'smart', 'paramiko'].includes(String(connection))
  )
    note({ item: `ansible_connection=${show(connection)}`, kind: 'connection' });
  for (const name of ['ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password']) {
    // The name only: the value is a secret.
    if (vars[name] !== undefined && vars[name] !== null) note({ item: name, kind: 'password' });
  }
  if (Object.keys(own).length > 0) layer.vars = own;
  return layer;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : show(v);
}

/** A value from the command, shown in a message: JSON, cut at 80 characters. */
function show(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
