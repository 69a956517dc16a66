// What a fleet runs on: the batch-operations guide's server objects, `user@host:port` strings, or a host-set
// expression (expanded by a hook, so the inventory stays outside the engine); with an inventory,
// each host over its inventory settings.
import type { Inventory } from '../inventory/inventory.js';
import { addressName, splitAddress, withHost } from '../process/address.js';
import { UsageError } from '../process/errors.js';
import type { Shell } from '../command/shell.js';
import { expandHosts } from './hostset.js';
import type { TargetPlan } from './plan-data.js';

/** A server object as the batch-operations guide writes it: `{ host, username, port?, privateKey?, ... }`; `name` overrides the report name. */
export interface ServerObject {
  host: string;
  username?: string;
  port?: number;
  name?: string;
  [option: string]: unknown;
}

export type Target = string | ServerObject;

/**
 * What the fleet asks of a transport's file transfer. A transport honours each: the file's mode (a
 * number, or 'preserve': the source's, set-user-ID and sticky bits included), missing parent folders
 * made, a temporary name and rename (`atomic`, default true) or the path as given, a check of the
 * written copy before it replaces the destination, and cancellation.
 */
export interface FleetUploadOptions {
  mode?: number | 'preserve';
  mkdirs?: boolean;
  atomic?: boolean;
  signal?: AbortSignal;
  /** Runs on the written copy (and the file's paths) before it replaces the destination; if it throws, the copy goes. */
  beforeReplace?: (written: string, file: FleetTransferFile) => Promise<void>;
  /** For a directory: runs once with every file to be copied, before the first (a download after its walk). */
  beforeFiles?: (files: FleetTransferFile[]) => Promise<void>;
}

/** One file of a transfer: its path here and on the host, and below the directory's root ('' for a file). */
export interface FleetTransferFile {
  local: string;
  remote: string;
  rel: string;
  size: number;
}

/**
 * What a directory download gives back: how many files, and the entries it left out. A transport
 * refuses a remote entry whose name is unsafe as a local path component (src/local/safe-name.ts)
 * or a link out of the tree: it copies the rest and then fails with an error that carries them in
 * `rejected` (each entry's remote path and why).
 */
export interface FleetDirectoryResult {
  files: number;
  skipped?: Array<{ path: string; reason: string }>;
}

/** A shell on one host, as the fleet needs it: commands, plus SFTP when the transport has it. */
export type FleetShell = Shell & {
  uploadFile?(local: string, remote: string, options?: FleetUploadOptions): Promise<unknown>;
  downloadFile?(remote: string, local: string, options?: FleetUploadOptions): Promise<unknown>;
  uploadDirectory?(local: string, remote: string, options?: FleetUploadOptions): Promise<unknown>;
  downloadDirectory?(
    remote: string,
    local: string,
    options?: FleetUploadOptions,
  ): Promise<FleetDirectoryResult>;
  /** Connects ahead of the first command (used to let slow connections give up their slot). */
  connect?(): Promise<void>;
  /**
   * For a dry run (`fleet.plan()`): what a connection would use and the host key it would meet,
   * learned without logging in to the host and without running anything.
   */
  inspect?(options?: { signal?: AbortSignal }): Promise<TargetPlan>;
};

export interface ConnectOptions {
  connectTimeout?: number;
}

/** Opens (or reuses) a shell on a target. `$.fleet` defaults to `$.ssh`; tests inject local shells. */
export type Connect = (target: Target, options: ConnectOptions) => FleetShell;

/**
 * Expands a host-set expression (`web[1-3],db1`, `@web`) into targets. The default knows ranges and
 * set operators; the `inventory` option installs one that knows its @groups too.
 */
export type Expand = (expression: string) => Target[];

export interface FleetHost {
  /** The name in events and reports: the host as given, with `:port` when a port was given. */
  name: string;
  /** The index in the target list, as the batch-operations guide's events report it. */
  index: number;
  target: Target;
}

const EXPRESSION = /\[[0-9A-Za-z,-]+\]|[,!&]|^@/; // ranges, set operators, @group (not user@host, not [::1])

/**
 * Normalises targets to named hosts; names must be unique so each host is reported once. Host-set
 * expressions (`web[1-3],db1`) are expanded by `expand`, by default through the inventory's groups
 * when there is one, else without @groups. With an inventory, each host's target is its inventory
 * settings under what the target says itself. Any iterable of targets (a HostSet) is accepted.
 */
export function resolveTargets(
  targets: Target | Iterable<Target>,
  expand?: Expand,
  inventory?: Inventory,
): FleetHost[] {
  expand ??= inventory ? (expression) => inventory.select(expression).hosts : expandHosts;
  const list: Target[] =
    typeof targets === 'string' ||
    (typeof targets === 'object' && targets !== null && !(Symbol.iterator in targets))
      ? [targets as Target]
      : [...(targets as Iterable<Target>)];
  const flat: Target[] = [];
  for (const t of list) {
    if (typeof t === 'string' && EXPRESSION.test(t)) flat.push(...expand(t));
    else flat.push(t);
  }
  const seen = new Set<string>();
  return flat.map((target, index) => {
    const name = targetName(target);
    if (seen.has(name))
      throw new UsageError(`target ${name} is listed twice; each host runs once per fleet run`);
    seen.add(name);
    return { name, index, target: inventory ? withInventory(target, name, inventory) : target };
  });
}

/**
 * A target over the inventory's settings for its host: what the target says itself wins (a user or
 * port written in `user@host:port`, its own options, its own env variable by variable). It keeps
 * the name it had, so that a fleet made again from its targets (`fleet.with()`) names hosts the same.
 */
function withInventory(target: Target, name: string, inventory: Inventory): ServerObject {
  const own: ServerObject = typeof target === 'string' ? { host: target } : target;
  const written = splitAddress(own.host);
  const { env, ...settings }: ServerObject = inventory.targetFor(written.host);
  if (written.user !== undefined || own.username !== undefined || own.user !== undefined)
    delete settings.username;
  if (written.port !== undefined || own.port !== undefined) delete settings.port;
  if (own.via !== undefined) delete settings.jump;
  const merged: ServerObject = { ...settings, ...own, name };
  // An inventory address replaces the host's name in what the target wrote (keeping its user and port).
  if (settings.host !== written.host) merged.host = withHost(own.host, settings.host);
  if (env !== undefined || own.env !== undefined)
    merged.env = { ...(env as object), ...(own.env as object | undefined) };
  return merged;
}

export function targetName(target: Target): string {
  if (typeof target === 'string') {
    const t = target.trim();
    if (t === '') throw new UsageError('a fleet target is an empty string');
    return addressName(t);
  }
  if (
    target === null ||
    typeof target !== 'object' ||
    typeof target.host !== 'string' ||
    target.host === ''
  ) {
    throw new UsageError(
      `a fleet target must be a string or an object with a host, got ${JSON.stringify(target)}`,
    );
  }
  if (typeof target.name === 'string' && target.name !== '') return target.name;
  return addressName(target.host, target.port);
}
