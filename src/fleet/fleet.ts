// A fleet: targets plus options. `.run` takes the same template as `$`; `.each` runs any per-host
// task; files, health checks and config sync are tasks built on `.each`; `.plan` is a dry run.
// Whoever made the fleet may watch each run it starts (src/index.ts draws progress there): the
// engine itself draws nothing.
import { buildCommand } from '../command/template.js';
import { UsageError } from '../process/errors.js';
import { CommandResult } from '../process/result.js';
import { syncTask, type SyncOptions, type SyncOutcome } from './config-sync.js';
import { downloadTask, uploadTask, type TransferOutcome, type UploadOptions } from './files.js';
import { healthTask, type CheckSpec, type HealthResult } from './health.js';
import { commandOptions, resolveOptions, type FleetOptions } from './options.js';
import { runInput, type FleetInput } from './input.js';
import { runLine, runLineWithInput } from './line.js';
import { planHosts, type FleetPlan, type PlanOptions } from './plan.js';
import { localScript } from './script.js';
import { FleetRun, type HostTask } from './run.js';
import { resolveTargets, type FleetHost, type Target } from './target.js';

/** Called with each run a fleet starts, before the run's first event, the fleet's options and its host names. */
export type RunObserver = (
  run: FleetRun<unknown>,
  options: Readonly<FleetOptions>,
  hosts: readonly string[],
) => void;

export class Fleet {
  readonly hosts: readonly FleetHost[];
  readonly options: Readonly<FleetOptions>;
  readonly #observe: RunObserver | undefined;

  constructor(targets: Target | Iterable<Target>, options: FleetOptions, observe?: RunObserver) {
    // sudo's password, kept out of JSON and util.inspect of the fleet's options.
    this.options = options.sudo === undefined ? options : { ...options, ...commandOptions(options) };
    this.#observe = observe;
    resolveOptions(options); // validates now, so a bad option fails before anything runs
    this.hosts = resolveTargets(targets, options.expand, options.inventory);
  }

  /** Host names, in target order. */
  get names(): string[] {
    return this.hosts.map((h) => h.name);
  }

  /** Runs one command on every host (with the `stdin` option as its input): ``fleet.run`systemctl is-active nginx` ``. */
  run(strings: TemplateStringsArray, ...values: unknown[]): FleetRun<CommandResult> {
    const command = buildCommand(strings, values); // a bad value throws here: nothing runs anywhere
    return this.#command(command, command, this.options.stdin);
  }

  /**
   * Runs a local script on every host without copying it: its text goes to the interpreter its
   * `#!` line names, over stdin (`sh -s --` without one), with `args` quoted (src/fleet/script.ts).
   */
  script(file: string, args: readonly string[] = []): FleetRun<CommandResult> {
    if (this.options.stdin !== undefined)
      throw new UsageError(
        `script ${file}: the script's text is its interpreter's input, so the stdin option cannot be used with it`,
      );
    const { command, text, label } = localScript(file, args);
    return this.#command(command, label, text);
  }

  #command(command: string, label: string, stdin: FleetInput | undefined): FleetRun<CommandResult> {
    if (stdin === undefined) return this.each((shell, ctx) => runLine(shell, command, ctx), label);
    const input = runInput(stdin); // a stream another run read, a missing file: nothing runs
    const run = this.each((shell, ctx) => runLineWithInput(shell, command, ctx, input), label);
    run.once('batch:complete', () => void input.close());
    return run;
  }

  /** Runs a task per host, under the fleet's scheduling, policies, retries and timeouts. */
  each<T>(task: HostTask<T>, label: string | null = null): FleetRun<T> {
    // A fresh limit per run: adaptive state is about this run's hosts.
    const resolved = { ...resolveOptions(this.options), policy: this.options };
    const run = new FleetRun<T>([...this.hosts], task, resolved, label);
    this.#observe?.(run as FleetRun<unknown>, this.options, this.names);
    return run;
  }

  /** Uploads a file or directory to every host, each file atomically with its SHA-256 checked there. */
  upload(localPath: string, remotePath: string, options: UploadOptions = {}): FleetRun<TransferOutcome> {
    return this.each(uploadTask(localPath, remotePath, options), `upload ${localPath} → ${remotePath}`);
  }

  /**
   * Downloads a file or a directory from every host into `localDir/<host>/<name>`, each file
   * checked against the SHA-256 the host computed before it takes its place.
   */
  download(remotePath: string, localDir: string): FleetRun<TransferOutcome> {
    return this.each(downloadTask(remotePath, localDir), `download ${remotePath} → ${localDir}/<host>/`);
  }

  /** Runs named checks on every host; a host with a failed check is 'failed', its table in `value`. */
  health<C extends Record<string, CheckSpec>>(checks: C): FleetRun<HealthResult<C>> {
    return this.each(healthTask(checks), `health ${Object.keys(checks).join(', ')}`);
  }

  /** Backs up, uploads atomically, validates (restoring on failure) and reloads configuration files. */
  syncConfig(options: SyncOptions): FleetRun<SyncOutcome> {
    const files = Array.isArray(options.files) ? options.files : [options.files];
    return this.each(
      syncTask(options),
      `sync ${files.map((f) => (typeof f.remote === 'string' ? f.remote : '<per host>')).join(', ')}`,
    );
  }

  /**
   * A dry run: for every host, what a run would use (user, address, port, jump chain, the agent and
   * key files in order) and the host key it would meet, learned without logging in to the hosts and
   * without running anything. With `compare`, also which hosts a configuration sync would change
   * (logging in to run a read-only checksum per file).
   */
  plan(options: PlanOptions = {}): Promise<FleetPlan> {
    return planHosts(this.hosts, resolveOptions(this.options), options);
  }

  /** The same fleet with other options. */
  with(options: FleetOptions): Fleet {
    return new Fleet(
      this.hosts.map((h) => h.target),
      { ...this.options, ...options },
      this.#observe,
    );
  }
}

export function fleet(targets: Target | Iterable<Target>, options: FleetOptions): Fleet {
  return new Fleet(targets, options);
}
