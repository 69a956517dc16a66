// The options of a fleet run, one name and one default each, validated at the boundary.
import { parseDuration, type Duration } from '../process/duration.js';
import { ptyOf, sudoOf, type PtyOptions, type SudoOptions } from '../process/exec-options.js';
import type { Inventory } from '../inventory/inventory.js';
import { UsageError } from '../process/errors.js';
import { resolveBudget, type PolicyOptions } from './policy.js';
import type { ProgressOptions } from '../render/progress.js';
import { retryPolicy, type RetryOptions, type RetryPolicy } from './retry.js';
import { makeLimit, type ConcurrencyOption, type Limit } from './scheduler.js';
import type { Connect, Expand } from './target.js';
import { checkInput, type FleetInput } from './input.js';

export interface FleetOptions extends PolicyOptions {
  /** Hosts at once: a number (default 32), 'adaptive', or { initial, min, max }. */
  concurrency?: ConcurrencyOption;
  /** Passed to the transport: how long a connection may take (default: the transport's, 10 s for SSH). */
  connectTimeout?: Duration;
  /**
   * A host still connecting after this long gives its slot to the next host while it keeps trying,
   * and takes a slot again once connected (default 1 s; false: hold the slot). Needs a transport
   * with `connect()`, as `$.ssh` has.
   */
  slowConnect?: Duration | false;
  /**
   * Per host and attempt: the host's work is killed after this long and the host is 'timeout'. It
   * counts from when the host is connected; reaching it is bounded by connectTimeout (then 'unreachable').
   */
  timeout?: Duration;
  /** For the whole run: at the deadline, hosts not started are skipped and those running are killed. */
  deadline?: Duration;
  /** Attempts in all, or a retry policy (by default only unreachable hosts are retried). */
  retries?: number | RetryOptions;
  /** What stopping for failFast or a budget does to hosts in flight: let them 'finish' (default) or 'kill'. */
  inFlight?: 'finish' | 'kill';
  /** Opens a shell on a target; defaults to `$.ssh`. */
  connect?: Connect;
  /** Expands host-set expressions among the targets (default: ranges and set operators, and the inventory's @groups). */
  expand?: Expand;
  /**
   * An inventory (`loadInventory()`): its @groups in host-set expressions among the targets, and each
   * host's settings and vars (as environment variables) under what a target says itself.
   */
  inventory?: Inventory;
  /** Bytes kept per stream and host (default 1 MiB); past it the host result says `truncated`. */
  maxOutput?: number;
  /** Draw progress on stderr (off by default in the library). */
  progress?: boolean | ProgressOptions;
  /**
   * The input of every host's command in `run` (each host gets the same bytes): text, a Buffer, a
   * stream (read once, by one run: spooled to an unlinked temporary file that each host reads from
   * the start), or `{ file }` (opened once). Default: no input.
   */
  stdin?: FleetInput;
  /**
   * Every command the fleet runs goes through sudo on its host: `true` (as root) or `{ user,
   * password }` (the password, else each target's sudoPassword, else its password; without one,
   * `sudo -n`). File transfers stay the login user's.
   */
  sudo?: boolean | SudoOptions;
  /** Every command the fleet runs gets a pseudo-terminal (`true` or `{ term, rows, cols }`). */
  pty?: boolean | PtyOptions;
  /**
   * Record each run in a run journal (src/journal/): its path, or one from `openJournal(path)`.
   * Every host's start and end is written as it happens; `openJournal(path).run(id)` reads it back.
   */
  journal?: string | JournalHandle;
}

/** An opened run journal, as the fleet's options know it (the journal itself is in src/journal/). */
export interface JournalHandle {
  readonly path: string;
}

export interface ResolvedOptions {
  limit: Limit;
  connectTimeout: number | undefined;
  timeoutMs: number | undefined;
  slowConnectMs: number | undefined;
  deadlineMs: number | undefined;
  retry: RetryPolicy;
  inFlight: 'finish' | 'kill';
  connect: Connect;
  maxOutput: number;
  /** What each command on a host is run with (`shell.with()`): sudo and a pseudo-terminal. */
  commands: { sudo?: SudoOptions | false; pty?: boolean | PtyOptions };
}

/** Per stream and host: a thousand hosts printing without end stay within 2 GiB at worst. */
export const DEFAULT_FLEET_MAX_OUTPUT = 1024 * 1024;

const KNOWN = new Set([
  'concurrency',
  'connectTimeout',
  'slowConnect',
  'timeout',
  'deadline',
  'retries',
  'inFlight',
  'connect',
  'expand',
  'inventory',
  'progress',
  'failFast',
  'maxFailures',
  'maxUnreachable',
  'maxOutput',
  'stdin',
  'sudo',
  'pty',
  'journal',
]);

export function resolveOptions(options: FleetOptions, extraKnown: readonly string[] = []): ResolvedOptions {
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name) && !extraKnown.includes(name))
      throw new UsageError(`unknown fleet option ${JSON.stringify(name)}`);
  }
  if (options.inFlight !== undefined && options.inFlight !== 'finish' && options.inFlight !== 'kill') {
    throw new UsageError(
      `option inFlight: expected 'finish' or 'kill', got ${JSON.stringify(options.inFlight)}`,
    );
  }
  const inventory = options.inventory as Partial<Inventory> | undefined;
  if (
    inventory !== undefined &&
    (typeof inventory?.select !== 'function' || typeof inventory.targetFor !== 'function')
  ) {
    throw new UsageError(
      'option inventory: expected an Inventory, from loadInventory(), inventoryFromCommand() or parseInventory()',
    );
  }
  if (!options.connect) {
    throw new UsageError('no transport: pass options.connect, or use $.fleet() which connects over SSH');
  }
  checkInput(options.stdin);
  resolveBudget(options.maxFailures, 0, 'maxFailures');
  resolveBudget(options.maxUnreachable, 0, 'maxUnreachable');
  if (options.maxOutput !== undefined && !(Number.isInteger(options.maxOutput) && options.maxOutput >= 0)) {
    throw new UsageError(`option maxOutput: expected a byte count, got ${options.maxOutput}`);
  }
  const ms = (v: Duration | undefined, name: string) =>
    v === undefined ? undefined : parseDuration(v, name);
  return {
    limit: makeLimit(options.concurrency),
    connectTimeout: ms(options.connectTimeout, 'connectTimeout'),
    timeoutMs: ms(options.timeout, 'timeout'),
    slowConnectMs:
      options.slowConnect === false ? undefined : (ms(options.slowConnect, 'slowConnect') ?? 1000),
    deadlineMs: ms(options.deadline, 'deadline'),
    retry: retryPolicy(options.retries),
    inFlight: options.inFlight ?? 'finish',
    connect: options.connect,
    maxOutput: options.maxOutput ?? DEFAULT_FLEET_MAX_OUTPUT,
    commands: commandOptions(options),
  };
}

/** The sudo and pty options, validated (the sudo password kept out of JSON and inspection). */
export function commandOptions(options: FleetOptions): ResolvedOptions['commands'] {
  const out: ResolvedOptions['commands'] = {};
  if (options.sudo !== undefined) out.sudo = sudoOf(options.sudo, 'option sudo') ?? false;
  if (options.pty !== undefined) {
    ptyOf(options.pty, 'option pty');
    out.pty = options.pty;
  }
  return out;
}
