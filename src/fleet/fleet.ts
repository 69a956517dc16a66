// A fleet: targets plus options. `.run` takes the same template as `$`; `.each` runs any per-host
// task; files, health checks and config sync are tasks built on `.each`.
import { buildCommand } from '../command/template.js';
import { CommandResult } from '../process/result.js';
import { resolveOptions, type FleetOptions } from './options.js';
import { FleetRun, type HostTask, type TaskContext } from './run.js';
import { resolveTargets, type FleetHost, type FleetShell, type Target } from './target.js';
import type { CommandPromise } from '../process/command-promise.js';

/** A template with only `${command}`: the sole-interpolation rule runs the string as the command line. */
const SOLE = Object.assign(['', ''], { raw: ['', ''] }) as unknown as TemplateStringsArray;

/** Runs a command line (already built) on a shell, streaming its lines to the run's events. */
export function runLine(shell: FleetShell, command: string, ctx?: TaskContext): CommandPromise {
  const p = shell(SOLE, command);
  return ctx ? p.onLine((stream, line) => ctx.emitLine(stream, line)) : p;
}

export class Fleet {
  readonly hosts: readonly FleetHost[];
  readonly options: Readonly<FleetOptions>;

  constructor(targets: Target | readonly Target[], options: FleetOptions) {
    this.options = options;
    resolveOptions(options); // validates now, so a bad option fails before anything runs
    this.hosts = resolveTargets(targets, options.expand);
  }

  /** Host names, in target order. */
  get names(): string[] {
    return this.hosts.map((h) => h.name);
  }

  /** Runs one command on every host: ``fleet.run`systemctl is-active nginx` ``. */
  run(strings: TemplateStringsArray, ...values: unknown[]): FleetRun<CommandResult> {
    const command = buildCommand(strings, values); // a bad value throws here: nothing runs anywhere
    return this.each<CommandResult>(
      (shell, ctx) => runLine(shell, command, ctx),
      command,
    );
  }

  /** Runs a task per host, under the fleet's scheduling, policies, retries and timeouts. */
  each<T>(task: HostTask<T>, label: string | null = null): FleetRun<T> {
    // A fresh limit per run: adaptive state is about this run's hosts.
    const resolved = { ...resolveOptions(this.options), policy: this.options };
    return new FleetRun<T>([...this.hosts], task, resolved, label);
  }

  /** The same fleet with other options. */
  with(options: FleetOptions): Fleet {
    return new Fleet(
      this.hosts.map((h) => h.target),
      { ...this.options, ...options },
    );
  }
}

export function fleet(targets: Target | readonly Target[], options: FleetOptions): Fleet {
  return new Fleet(targets, options);
}
