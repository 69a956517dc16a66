// The fleet engine's public surface. `fleet()` and `rolling()` are src/index.ts's: they add the
// progress drawing that the `progress` option asks for.
export { Fleet } from './fleet.js';
export { FleetRun, type FleetEvents, type HostTask, type TaskContext } from './run.js';
export {
  FleetReport,
  FleetFailedError,
  percentile,
  type Counts,
  type Durations,
  type HostSets,
  type Percentages,
} from './report.js';
export { gather, type OutputGroup, type OutputVariant } from './gather.js';
export {
  HostTaskError,
  type Attempt,
  type HostResult,
  type HostStatus,
  type SkipReason,
} from './host-result.js';
export type { FleetOptions } from './options.js';
export type { Budget, PolicyOptions } from './policy.js';
export type { RetryOptions, RetryOn } from './retry.js';
export {
  AdaptiveLimit,
  DEFAULT_CONCURRENCY,
  type AdaptiveOptions,
  type ConcurrencyOption,
} from './scheduler.js';
export {
  RollingRun,
  RollingReport,
  batchSizes,
  type RollingOptions,
  type RollingPhase,
  type BatchSize,
  type PhaseRecord,
  type BatchRecord,
} from './rolling.js';
export { sha256File, type FileTransfer, type TransferOutcome, type UploadOptions } from './files.js';
export { type CheckSpec, type CheckResult, type HealthResult } from './health.js';
export { type ConfigFile, type SyncOptions, type SyncOutcome, type FileSync } from './config-sync.js';
export {
  targetName,
  type Target,
  type ServerObject,
  type Connect,
  type FleetShell,
  type FleetUploadOptions,
  type Expand,
} from './target.js';
