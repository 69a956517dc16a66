// A fleet's dry run as plain data: the shapes FleetPlan has and src/render/plan-text.ts reads.
// Types only. What each host's connection would use is the transport's own description
// (`TargetPlan`, from the SSH layer's types: the one shape `ssh.inspect()` returns and a transport's
// `inspect()` must give); the fleet adds each host's verdict, the comparison of files, the batches.
import type { TargetPlan } from '../ssh/types.js';

export type {
  AuthPlan,
  HostKeyPlan,
  HostKeyStatus,
  HostKeyVerdict,
  PlannedEndpoint,
  TargetPlan,
} from '../ssh/types.js';

/**
 * What a run would meet on a host, as far as a dry run can tell (it does not log in to the hosts,
 * so it cannot tell whether they would accept the key): `ready` (its host key would be accepted),
 * `host-key` (it would be refused: unknown under 'strict', changed, revoked), `unreachable` (no
 * server answered, or the target cannot be resolved or authenticated with), `not-checked` (a
 * ProxyCommand, a jump host whose key a run would first record, a transport that cannot say).
 */
export type PlanStatus = 'ready' | 'host-key' | 'unreachable' | 'not-checked';

export interface FilePlan {
  local: string;
  remote: string;
  /** The SHA-256 of the local file, and of the host's (null: the host has no such file). */
  sha256: string;
  current: string | null;
  /** What a configuration sync would do: leave it (`unchanged`), back it up and replace it (`update`), or `create` it. */
  change: 'unchanged' | 'update' | 'create';
}

export interface HostPlan {
  host: string;
  index: number;
  status: PlanStatus;
  /** The connection error's kind for `unreachable`, `unknown-host-key` or `changed-host-key` for `host-key`; else null. */
  kind: string | null;
  /** A sentence for every status but `ready`: the error, the key's problem, why it was not checked. */
  reason: string | null;
  /** What the transport would use and found out; null when it cannot say or the target did not resolve. */
  connection: TargetPlan | null;
  /** With `compare`: each file and what a sync would do with it; null when not compared (see `notCompared`). */
  files: FilePlan[] | null;
  /** Why the files were not compared on this host (when `compare` was asked), else null. */
  notCompared: string | null;
  /** The dry run logged in to this host and ran its read-only checksum command (`compare`). */
  loggedIn: boolean;
}

export type PlanCounts = Record<'total' | PlanStatus, number>;

/** A batch of a rolling deployment: its phase, its number within it, its hosts as a host set. */
export interface PlanBatch {
  phase: string;
  number: number;
  hosts: string;
  count: number;
}

/** A dry run as the renderers read it. */
export interface PlanData {
  /** What would run: `run uptime`, `copy a b`, ...; null when not said. */
  readonly action: string | null;
  /** Every host once, in target order. */
  readonly hosts: readonly HostPlan[];
  readonly counts: PlanCounts;
  /** Host sets by status. */
  readonly sets: Readonly<Record<PlanStatus, string>>;
  /** A rolling deployment's batches, in order; null for other runs. */
  readonly batches: readonly PlanBatch[] | null;
  /**
   * Every host the dry run reached, as host sets: by a key exchange only (hung up before logging
   * in), logged in to (jump hosts, to reach the hosts behind them), logged in to and a read-only
   * checksum command run (`compare`).
   */
  readonly contacted: { readonly keyExchange: string; readonly login: string; readonly checksum: string };
  /** With `compare`: the hosts a sync would change, would leave alone, and could not compare. */
  readonly changes: {
    readonly change: string;
    readonly unchanged: string;
    readonly notCompared: string;
  } | null;
  readonly wallMs: number;
}
