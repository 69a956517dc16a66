// The public surface of fleetsh: `$` and the types and errors a user handles. Here the engine
// meets the presentation: a fleet or rolling deployment asked for `progress` gets the drawer of
// src/render/progress.ts attached to its runs (the engine only emits events and exposes state).
import { RawCommand, raw } from './command/template.js';
import { quote } from './command/quote.js';
import { LocalExecutor } from './local/local-executor.js';
import { makeShell, type Shell } from './command/shell.js';
import { createSsh, type SshFunction } from './ssh/shell.js';
import { sshConnect } from './fleet/connect.js';
import { Fleet, type RunObserver } from './fleet/fleet.js';
import type { FleetOptions } from './fleet/options.js';
import { RollingRun, type RollingOptions } from './fleet/rolling.js';
import type { FleetPlan, PlanOptions } from './fleet/plan.js';
import { planRolling } from './fleet/rolling-plan.js';
import type { Target } from './fleet/target.js';
import { attachProgress, attachRollingProgress, progressFor } from './render/progress.js';
import { recordFleetRun, recordRolling } from './journal/record.js';
import { UsageError } from './process/errors.js';
import { natsConnect, type NatsFleetOptions } from './scale-out/coordinator.js';

export interface Dollar extends Shell {
  /** Text inserted into a command line without quoting: ``$`ls ${$.raw('*.log')}` ``. */
  raw(text: string): RawCommand;
  /** Quotes one value as a POSIX shell word. */
  quote(value: string): string;
  /**
   * A shell on an SSH host: ``$.ssh('deploy@web1')`uptime` `` or `$.ssh({ host, username, ... })`.
   * Connections are pooled per target and closed when idle; `$.ssh.configure()` sets the pool.
   */
  ssh: SshFunction;
  /**
   * Many hosts at once: ``$.fleet(servers, { concurrency: 32 }).run`uptime` `` is awaitable (a report),
   * an EventEmitter (`server:success`, ...) and an async iterable of host results. See docs/fleet.md.
   */
  fleet(targets: Target | Iterable<Target>, options?: DollarFleetOptions): Fleet;
  /**
   * A rolling deployment: phases in order, batches like [1, '10%', '100%'], health checks, budgets.
   * With `inventory`, each phase's targets expand through its groups and take its settings.
   * `$.rolling.plan(options)` is its dry run: its batches, and each host as `fleet.plan()` sees it.
   */
  rolling: RollingFunction;
  /** Closes every pooled SSH connection (also `await using $` ... in a block). */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * `$.fleet()`'s options: a fleet's, and `nats` to run every host's commands on fleetsh workers
 * through NATS JetStream instead of from this process (docs/scale-out.md).
 */
export type DollarFleetOptions = FleetOptions & { nats?: NatsFleetOptions };

type DollarRollingOptions = Omit<RollingOptions, 'connect'> &
  Partial<Pick<RollingOptions, 'connect'>> & { nats?: NatsFleetOptions };

/** The transport a `$.fleet()` or `$.rolling()` asked for: its own `connect`, workers over NATS, or `$.ssh`. */
function transport<
  O extends {
    connect?: FleetOptions['connect'];
    nats?: NatsFleetOptions;
    inventory?: FleetOptions['inventory'];
  },
>(options: O): Omit<O, 'nats'> & { connect: NonNullable<FleetOptions['connect']> } {
  const { nats, ...rest } = options;
  if (nats !== undefined && rest.connect !== undefined)
    throw new UsageError('options nats and connect: give one (nats runs the commands on fleetsh workers)');
  const connect = rest.connect ?? (nats !== undefined ? natsConnect(nats, rest.inventory) : sshConnect(ssh));
  return { ...rest, connect };
}

export interface RollingFunction {
  (options: DollarRollingOptions): RollingRun;
  /** A dry run of the deployment: nothing runs; see `Fleet#plan`. */
  plan(options: DollarRollingOptions, plan?: PlanOptions): Promise<FleetPlan>;
}

const local = makeShell(new LocalExecutor(), {});
const ssh = createSsh();
export const $: Dollar = Object.assign(local, {
  raw,
  quote,
  ssh,
  fleet: (targets: Target | Iterable<Target>, options: DollarFleetOptions = {}) =>
    fleet(targets, transport(options)),
  rolling: Object.assign((options: DollarRollingOptions) => rolling(transport(options)), {
    plan: (options: DollarRollingOptions, plan?: PlanOptions) => planRolling(transport(options), plan),
  }),
  close: () => ssh.close(),
  [Symbol.asyncDispose]: () => ssh.close(),
});

const drawProgress: RunObserver = (run, options, hosts) => {
  const progress = progressFor(options.progress);
  if (progress) attachProgress(run, progress);
  recordFleetRun(run, options, hosts);
};

/** A fleet over `options.connect`; its runs draw progress on stderr when `options.progress` asks. */
export function fleet(targets: Target | Iterable<Target>, options: FleetOptions): Fleet {
  return new Fleet(targets, options, drawProgress);
}

/** A rolling deployment; each batch draws progress on stderr when `options.progress` asks. */
export function rolling(options: RollingOptions): RollingRun {
  const run = new RollingRun(options);
  const progress = progressFor(options.progress);
  if (progress) attachRollingProgress(run, progress);
  recordRolling(run, options);
  return run;
}

// The public API: what a script needs, and nothing more (docs/architecture.md lists it, and
// test/exports.test.ts holds it to that list). Engine parts, transports and helpers stay internal.

// Commands and shells
export { quote } from './command/quote.js';
export { raw, type RawCommand } from './command/template.js';
export type {
  CommandPromise,
  CommandOptions,
  LineListener,
  DataListener,
  Stdin,
} from './process/command-promise.js';
export { CommandResult } from './process/result.js';
export type { Duration } from './process/duration.js';
export type { PtyOptions, SudoOptions } from './process/exec-options.js';
export type { Shell } from './command/shell.js';

// Errors: every one a FleetshError with a kind
export {
  FleetshError,
  CommandError,
  TimeoutError,
  CancelledError,
  ConnectionError,
  UsageError,
  SudoError,
  type SudoFailure,
  type ErrorKind,
  type ConnectionErrorKind,
  type ConnectionStage,
} from './process/errors.js';
export { TransferError } from './ssh/sftp.js';
export { FleetFailedError } from './fleet/report.js';
export { HostTaskError } from './fleet/host-result.js';
export { HostSetError, InventoryError, type InventoryIssue } from './inventory/errors.js';

// SSH
export { createSsh, type SshFunction, type SshShell, type SshShellExtras } from './ssh/shell.js';
export { SshPool, type SshPoolOptions } from './ssh/pool.js';
export type {
  RejectedEntry,
  SkippedEntry,
  TransferFile,
  TransferOptions,
  TransferProgress,
  TransferResult,
  SshTransfers,
} from './ssh/sftp.js';
export type { Tunnel, TunnelOptions } from './ssh/tunnel.js';
export type { SudoTemplate } from './ssh/sudo.js';
export type {
  SshTarget,
  SshTargetOptions,
  ResolvedTarget,
  UnhonouredSetting,
  HostKeyPolicy,
  HostKeyInfo,
} from './ssh/types.js';

// Fleets and rolling deployments
export { Fleet } from './fleet/fleet.js';
export type { FleetRun, FleetEvents, HostTask, TaskContext } from './fleet/run.js';
export { FleetReport, type Counts, type Durations, type HostSets, type Percentages } from './fleet/report.js';
export { gather, type OutputGroup, type OutputVariant } from './fleet/gather.js';
export type { Attempt, HostResult, HostStatus, SkipReason } from './fleet/host-result.js';
export type { FleetOptions } from './fleet/options.js';
export type { FleetInput } from './fleet/input.js';
export type { Budget, PolicyOptions } from './fleet/policy.js';
export type { RetryOptions, RetryOn } from './fleet/retry.js';
export type { AdaptiveOptions } from './fleet/adaptive.js';
export type { ConcurrencyOption } from './fleet/scheduler.js';
export {
  RollingReport,
  type RollingRun,
  type RollingOptions,
  type RollingPhase,
  type BatchSize,
  type PhaseRecord,
  type BatchRecord,
} from './fleet/rolling.js';
export type { EntryNote, FileTransfer, TransferOutcome, UploadOptions } from './fleet/files.js';
export type { FleetPlan, PlanOptions } from './fleet/plan.js';
export type {
  AuthPlan,
  FilePlan,
  HostKeyPlan,
  HostKeyStatus,
  HostKeyVerdict,
  HostPlan,
  PlanBatch,
  PlanCounts,
  PlanStatus,
  PlannedEndpoint,
  TargetPlan,
} from './fleet/plan-data.js';
export type { CheckSpec, CheckFunction, CheckResult, HealthResult } from './fleet/health.js';
export type { ConfigFile, SyncOptions, SyncOutcome, FileSync } from './fleet/config-sync.js';
export type {
  Target,
  ServerObject,
  Connect,
  FleetShell,
  FleetUploadOptions,
  FleetTransferFile,
  FleetDirectoryResult,
  Expand,
} from './fleet/target.js';
export { attachProgress, type ProgressOptions } from './render/progress.js';

// Scale-out: one run spread over workers through NATS JetStream (docs/scale-out.md)
export { startWorker, type Worker, type WorkerOptions } from './scale-out/worker.js';
export type { NatsFleetOptions } from './scale-out/coordinator.js';
export type { NatsConnectionOptions } from './scale-out/nats.js';

// The run journal
export { openJournal, Journal, JournalError, type RunSummary, type RunSet } from './journal/journal.js';
export type { JournalHandle } from './fleet/options.js';

// Host sets and the inventory
export { HostSet, expand, type HostSetOptions } from './inventory/hostset.js';
export { fold } from './inventory/fold.js';
export type {
  Inventory,
  HostSettings,
  InventoryOptions,
  CommandInventoryOptions,
  InventoryTarget,
} from './inventory/inventory.js';

/**
 * Reads an inventory file (YAML, default ./fleetsh.yml). The YAML parser loads only when this is
 * called, so `import 'fleetsh'` stays quick for scripts without an inventory.
 */
export async function loadInventory(
  path?: string,
  options?: import('./inventory/inventory.js').InventoryOptions,
): Promise<import('./inventory/inventory.js').Inventory> {
  const { loadInventory: load } = await import('./inventory/inventory.js');
  return load(path, options);
}

/**
 * An inventory of the hosts a command prints: one a line, or Ansible's dynamic inventory JSON
 * (`command --list`, its groups as the inventory's). Loads like loadInventory(), on first use.
 */
export async function inventoryFromCommand(
  command: string | string[],
  options?: import('./inventory/inventory.js').CommandInventoryOptions,
): Promise<import('./inventory/inventory.js').Inventory> {
  const { inventoryFromCommand: fromCommand } = await import('./inventory/inventory.js');
  return fromCommand(command, options);
}
