// A fleet's dry run (`fleet.plan()`): for every host, what a run would use and meet, with nothing
// run. The transport says what a connection would use and reads the host key without logging in
// (`FleetShell#inspect`, for SSH src/ssh/inspect.ts); the fleet judges each host as a run would
// see it, and with `compare` logs in to read the checksums of the files a sync would replace (one
// read-only command per file). Hosts are inspected a window at a time; a cancel leaves the hosts
// not yet inspected `not-checked`.
import { FleetshError } from '../process/errors.js';
import { plain } from '../render/palette.js';
import { planText } from '../render/plan-text.js';
import type { ConfigFile } from './config-sync.js';
import { remoteSha256, sha256File } from './files.js';
import { statusOfError } from './host-result.js';
import { foldHosts } from './hostset.js';
import type { ResolvedOptions } from './options.js';
import type {
  FilePlan,
  HostKeyPlan,
  HostPlan,
  PlanBatch,
  PlanCounts,
  PlanData,
  PlanStatus,
  TargetPlan,
} from './plan-data.js';
import type { FleetHost, FleetShell } from './target.js';

export interface PlanOptions {
  /** What would run, for the text and JSON: `run uptime`, `copy app.conf /etc/app.conf`. */
  action?: string;
  /**
   * The files a configuration sync would put in place: each is compared by SHA-256 with the host's,
   * which means logging in and running one read-only command per file (`sha256sum`, or `shasum`).
   */
  compare?: ConfigFile | ConfigFile[];
  /** Hosts inspected at once (default: the fleet's concurrency; its first width when adaptive). */
  concurrency?: number;
  signal?: AbortSignal;
}

const STATUSES: PlanStatus[] = ['ready', 'host-key', 'unreachable', 'not-checked'];

export class FleetPlan implements PlanData {
  readonly action: string | null;
  readonly hosts: HostPlan[];
  readonly counts: PlanCounts;
  readonly sets: Record<PlanStatus, string>;
  readonly batches: PlanBatch[] | null;
  readonly contacted: { keyExchange: string; login: string; checksum: string };
  readonly changes: { change: string; unchanged: string; notCompared: string } | null;
  readonly wallMs: number;

  constructor(
    hosts: HostPlan[],
    meta: { action: string | null; batches: PlanBatch[] | null; compared: boolean; wallMs: number },
  ) {
    this.hosts = [...hosts].sort((a, b) => a.index - b.index);
    this.action = meta.action;
    this.batches = meta.batches;
    this.wallMs = meta.wallMs;
    const counts = { total: this.hosts.length } as PlanCounts;
    const sets = {} as Record<PlanStatus, string>;
    for (const s of STATUSES) {
      const names = this.hosts.filter((h) => h.status === s).map((h) => h.host);
      counts[s] = names.length;
      sets[s] = foldHosts(names);
    }
    this.counts = counts;
    this.sets = sets;
    const login = new Set<string>();
    const exchanged = new Set<string>();
    const checksum = new Set<string>();
    for (const h of this.hosts) {
      for (const c of h.connection?.contacted ?? []) (c.how === 'login' ? login : exchanged).add(c.host);
      if (h.loggedIn) checksum.add(h.connection?.label ?? h.host);
    }
    const only = [...exchanged].filter((n) => !login.has(n) && !checksum.has(n));
    this.contacted = {
      keyExchange: foldHosts(only),
      login: foldHosts([...login].filter((n) => !checksum.has(n))),
      checksum: foldHosts([...checksum]),
    };
    this.changes = meta.compared
      ? {
          change: foldHosts(
            this.hosts.filter((h) => h.files?.some((f) => f.change !== 'unchanged')).map((h) => h.host),
          ),
          unchanged: foldHosts(
            this.hosts.filter((h) => h.files?.every((f) => f.change === 'unchanged')).map((h) => h.host),
          ),
          notCompared: foldHosts(this.hosts.filter((h) => h.files === null).map((h) => h.host)),
        }
      : null;
  }

  /** No host would be unreachable or have its host key refused, as far as a dry run can tell. */
  get ok(): boolean {
    return this.counts.unreachable === 0 && this.counts['host-key'] === 0;
  }

  /** The dry run as `fleetsh --dry-run` prints it (no colours). */
  toText(): string {
    return planText(this, plain);
  }

  toJSON(): object {
    return {
      action: this.action,
      counts: this.counts,
      sets: this.sets,
      contacted: this.contacted,
      changes: this.changes,
      batches: this.batches,
      wallMs: this.wallMs,
      hosts: this.hosts,
    };
  }
}

/** Inspects every host, a window at a time, and judges each as a run would see it. */
export async function planHosts(
  hosts: readonly FleetHost[],
  options: ResolvedOptions,
  plan: PlanOptions = {},
  batches: PlanBatch[] | null = null,
): Promise<FleetPlan> {
  const t0 = performance.now();
  const files =
    plan.compare === undefined ? undefined : Array.isArray(plan.compare) ? plan.compare : [plan.compare];
  const localSums = new Map<string, Promise<string>>();
  const localSum = (path: string) => {
    let p = localSums.get(path);
    if (!p) localSums.set(path, (p = sha256File(path)));
    return p;
  };
  const width = Math.max(1, plan.concurrency ?? options.limit.current);
  const out: HostPlan[] = [];
  let next = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const h = hosts[next++]!;
      out.push(await planHost(h, options, plan, files, localSum));
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, hosts.length) }, worker));
  return new FleetPlan(out, {
    action: plan.action ?? null,
    batches,
    compared: files !== undefined,
    wallMs: Math.round(performance.now() - t0),
  });
}

async function planHost(
  h: FleetHost,
  o: ResolvedOptions,
  plan: PlanOptions,
  files: ConfigFile[] | undefined,
  localSum: (path: string) => Promise<string>,
): Promise<HostPlan> {
  const base: HostPlan = {
    host: h.name,
    index: h.index,
    status: 'not-checked',
    kind: null,
    reason: null,
    connection: null,
    files: null,
    notCompared: files ? 'the host was not inspected' : null,
    loggedIn: false,
  };
  const signal = plan.signal;
  if (signal?.aborted) return { ...base, kind: 'cancelled', reason: `not checked: ${String(signal.reason)}` };
  let shell: FleetShell;
  let connection: TargetPlan;
  try {
    shell = o.connect(h.target, { connectTimeout: o.connectTimeout });
    if (typeof shell.inspect !== 'function')
      return { ...base, reason: 'the transport cannot say what it would use (it has no inspect())' };
    connection = await shell.inspect(signal ? { signal } : {});
  } catch (e) {
    if (signal?.aborted)
      return { ...base, kind: 'cancelled', reason: `not checked: ${String(signal.reason)}` };
    const reason = e instanceof Error ? e.message : String(e);
    return { ...base, status: 'unreachable', kind: kindOf(e), reason, notCompared: files ? reason : null };
  }
  const host: HostPlan = { ...base, connection, ...judge(connection) };
  if (signal?.aborted && host.status === 'unreachable')
    return {
      ...host,
      status: 'not-checked',
      kind: 'cancelled',
      reason: `not checked: ${String(signal.reason)}`,
    };
  if (!files) return host;
  if (host.status !== 'ready') return { ...host, notCompared: `not compared: ${host.reason}` };
  if (connection.hostKey.verdict === 'record')
    return {
      ...host,
      notCompared:
        "a run would first record its host key (hostKeyPolicy 'accept-new'); a dry run records nothing, so it does not log in to compare",
    };
  // Logging in now: the host key was just found acceptable, so nothing is recorded.
  host.loggedIn = true;
  const sh = shell.with({
    ...(signal ? { signal } : {}),
    ...(o.timeoutMs !== undefined ? { timeout: o.timeoutMs } : {}),
  });
  const planned: FilePlan[] = [];
  try {
    for (const f of files) {
      const local = typeof f.local === 'function' ? f.local(h.name) : f.local;
      const remote = typeof f.remote === 'function' ? f.remote(h.name) : f.remote;
      const [sha256, current] = await Promise.all([localSum(local), remoteSha256(sh, remote)]);
      const change = current === sha256 ? 'unchanged' : current === null ? 'create' : 'update';
      planned.push({ local, remote, sha256, current, change });
    }
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    const status = statusOfError(e) === 'unreachable' ? 'unreachable' : host.status;
    return {
      ...host,
      status,
      kind: status === 'unreachable' ? kindOf(e) : host.kind,
      reason: status === 'unreachable' ? reason : host.reason,
      notCompared: reason,
    };
  }
  return { ...host, files: planned, notCompared: null };
}

/** A host as a run would meet it: the first hop (jump hosts, then the host) whose key or reach would stop it. */
function judge(c: TargetPlan): Pick<HostPlan, 'status' | 'kind' | 'reason'> {
  const hops: Array<[string, HostKeyPlan, boolean]> = [
    ...c.jump.map((j): [string, HostKeyPlan, boolean] => [j.label, j.hostKey, true]),
    [c.label, c.hostKey, false],
  ];
  for (const [label, key, isJump] of hops) {
    const who = isJump ? `jump host ${label}` : 'the host';
    if (key.status === 'unreachable')
      return { status: 'unreachable', kind: key.kind, reason: isJump ? `${who}: ${key.reason}` : key.reason };
    if (key.status === 'not-checked') return { status: 'not-checked', kind: null, reason: key.reason };
    if (key.verdict === 'refuse')
      return {
        status: 'host-key',
        kind: key.status === 'unknown' ? 'unknown-host-key' : 'changed-host-key',
        reason: `${who}: ${refusal(key)}`,
      };
  }
  if (c.auth.error !== null) return { status: 'unreachable', kind: 'auth', reason: c.auth.error };
  return { status: 'ready', kind: null, reason: null };
}

function refusal(key: HostKeyPlan): string {
  const shown = `${key.key!.type} key ${key.key!.fingerprint}`;
  if (key.status === 'unknown')
    return `its ${shown} is not in known_hosts (as ${key.name}), and hostKeyPolicy is '${key.policy}': a run would refuse it`;
  if (key.status === 'revoked')
    return `its ${shown} is marked @revoked at ${key.entry!.file}:${key.entry!.line}: a run would refuse it`;
  return `its ${shown} is not the ${key.entry!.type} key recorded for ${key.name} at ${key.entry!.file}:${key.entry!.line}: a run would refuse it (changed host key)`;
}

function kindOf(e: unknown): string {
  return e instanceof FleetshError ? e.kind : 'failed';
}
