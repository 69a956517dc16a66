// Fake fleets for unit tests: every "host" is a local shell named after it, with its own folder as
// working directory and HOST in its environment; some hosts can be made unreachable or flaky. And
// host results made by hand, for reports built without a run.
import { appendFile, chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { LocalExecutor } from '../../src/local/local-executor.js';
import { ConnectionError, type ConnectionErrorKind } from '../../src/process/errors.js';
import type { ExecOutcome, ExecRequest, Executor } from '../../src/process/executor.js';
import { makeShell } from '../../src/command/shell.js';
import type { HostResult } from '../../src/fleet/host-result.js';
import {
  targetName,
  type Connect,
  type FleetShell,
  type FleetUploadOptions,
  type Target,
} from '../../src/fleet/target.js';

const local = new LocalExecutor();

export interface FakeHost {
  /** Fail with this connection error kind (after `delayMs`) on the first `times` attempts (default: always). */
  unreachable?: { kind: ConnectionErrorKind; delayMs?: number; times?: number };
  /** A healthy host whose connection takes this long. */
  connectDelayMs?: number;
  /** Uploads arrive with a byte changed (a disk or a transfer that corrupts). */
  corruptUploads?: boolean;
  /** This file of a directory download arrives with a byte changed. */
  corruptDownloads?: string;
}

class FakeExecutor implements Executor {
  attempts = 0;
  connected = false;
  /** Every command line run on this host, in order. */
  readonly commands: string[] = [];
  constructor(
    readonly host: string,
    readonly fake: FakeHost,
  ) {}
  /** One connection attempt: fails as configured, or succeeds after connectDelayMs. */
  async connect(signal?: AbortSignal): Promise<void> {
    this.attempts++;
    const u = this.fake.unreachable;
    const failing = u && (u.times === undefined || this.attempts <= u.times);
    const delay = failing ? (u!.delayMs ?? 0) : (this.fake.connectDelayMs ?? 0);
    if (delay > 0 || failing) {
      await new Promise<void>((r, j) => {
        const t = setTimeout(r, delay);
        signal?.addEventListener(
          'abort',
          () => (clearTimeout(t), j(new ConnectionError('closed', this.host, 'aborted'))),
          { once: true },
        );
      });
    }
    if (failing) throw new ConnectionError(u!.kind, this.host, `fake ${u!.kind}`);
    this.connected = true;
  }
  async exec(req: ExecRequest): Promise<ExecOutcome> {
    if (!this.connected) await this.connect(req.signal);
    this.commands.push(req.command);
    return local.exec({ ...req, env: { ...req.env, HOST: this.host } });
  }
}

export interface FakeFleet {
  connect: Connect;
  root: string;
  dirOf(host: string): string;
  executors: Map<string, FakeExecutor>;
  cleanup(): Promise<void>;
}

/** A connect function over local shells; `faults` maps host names to their misbehaviour. */
export async function fakeFleet(faults: Record<string, FakeHost> = {}): Promise<FakeFleet> {
  const root = await mkdtemp(join(tmpdir(), 'fleetsh-fleet-'));
  const executors = new Map<string, FakeExecutor>();
  const dirOf = (host: string) => join(root, host.replace(/[^\w.-]/g, '_'));
  const connect: Connect = (target: Target) => {
    const name = targetName(target);
    let ex = executors.get(name);
    if (!ex) executors.set(name, (ex = new FakeExecutor(name, faults[name] ?? {})));
    const dir = dirOf(name);
    const executor = ex;
    // The transfer contract of FleetUploadOptions, as the SSH transport keeps it: a copy under a
    // temporary name beside the destination, its mode, the check, then the rename.
    const putOne = async (localPath: string, remote: string, options: FleetUploadOptions, rel: string) => {
      const written = options.atomic === false ? remote : tempBeside(remote);
      const to = resolve(dir, written);
      await mkdir(dirname(to), { recursive: true });
      await copyFile(localPath, to);
      if (executor.fake.corruptUploads) await appendFile(to, 'X');
      const mode = options.mode === 'preserve' ? (await stat(localPath)).mode & 0o7777 : options.mode;
      if (mode !== undefined) await chmod(to, mode);
      try {
        await options.beforeReplace?.(written, { local: localPath, remote, rel, size: 0 });
      } catch (e) {
        await rm(to, { force: true });
        throw e;
      }
      if (written !== remote) await rename(to, resolve(dir, remote));
    };
    return makeShell(executor, { cwd: dir }, () => ({
      connect: () => (executor.connected ? Promise.resolve() : executor.connect()),
      async uploadFile(localPath: string, remote: string, options: FleetUploadOptions = {}) {
        if (executor.fake.unreachable)
          throw new ConnectionError(executor.fake.unreachable.kind, name, 'fake');
        await putOne(localPath, remote, options, '');
      },
      // A tree's files (no links), each as uploadFile puts one, in name order.
      async uploadDirectory(localPath: string, remote: string, options: FleetUploadOptions = {}) {
        if (executor.fake.unreachable)
          throw new ConnectionError(executor.fake.unreachable.kind, name, 'fake');
        await mkdir(resolve(dir, remote), { recursive: true });
        const rels = (await readdir(localPath, { recursive: true, withFileTypes: true }))
          .filter((e) => e.isFile())
          .map((e) => relative(localPath, join(e.parentPath, e.name)))
          .sort();
        for (const rel of rels) await putOne(join(localPath, rel), join(remote, rel), options, rel);
      },
      async downloadFile(remote: string, localPath: string, options: FleetUploadOptions = {}) {
        if (executor.fake.unreachable)
          throw new ConnectionError(executor.fake.unreachable.kind, name, 'fake');
        await mkdir(dirname(localPath), { recursive: true });
        const written = tempBeside(localPath);
        await copyFile(resolve(dir, remote), written);
        try {
          await options.beforeReplace?.(written, { local: localPath, remote, rel: '', size: 0 });
        } catch (e) {
          await rm(written, { force: true });
          throw e;
        }
        await rename(written, localPath);
      },
      // A tree's files (no links, no checks of names: the SSH transport's walk does that), each as
      // downloadFile copies one, after beforeFiles has seen the whole list.
      async downloadDirectory(remote: string, localPath: string, options: FleetUploadOptions = {}) {
        if (executor.fake.unreachable)
          throw new ConnectionError(executor.fake.unreachable.kind, name, 'fake');
        const root = resolve(dir, remote);
        const rels = (await readdir(root, { recursive: true, withFileTypes: true }))
          .filter((e) => e.isFile())
          .map((e) => relative(root, join(e.parentPath, e.name)))
          .sort();
        const files = rels.map((rel) => ({
          local: join(localPath, rel),
          remote: join(remote, rel),
          rel,
          size: 0,
        }));
        await options.beforeFiles?.(files);
        for (const f of files) {
          await mkdir(dirname(f.local), { recursive: true });
          const written = tempBeside(f.local);
          await copyFile(join(root, f.rel), written);
          if (executor.fake.corruptDownloads === f.rel) await appendFile(written, 'X');
          try {
            await options.beforeReplace?.(written, f);
          } catch (e) {
            await rm(written, { force: true });
            throw e;
          }
          await rename(written, f.local);
        }
        return { files: files.length };
      },
    })) as FleetShell;
  };
  return {
    connect,
    root,
    dirOf,
    executors,
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
}

const tempBeside = (file: string) => join(dirname(file), `.${basename(file)}.fleetsh-test.tmp`);

/** Makes the working folders of these hosts. */
export async function makeDirs(f: FakeFleet, hosts: string[]): Promise<void> {
  for (const h of hosts) await mkdir(f.dirOf(h), { recursive: true });
}

export function names(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
}

/** An ok host that printed nothing (stdout null: no output group), with `patch` over it. */
export function hostResult(name: string, index: number, patch: Partial<HostResult> = {}): HostResult {
  return {
    host: name,
    index,
    status: 'ok',
    success: true,
    kind: null,
    exitCode: 0,
    signal: null,
    stdout: null,
    stderr: null,
    truncated: false,
    attempts: [],
    durationMs: 100,
    error: null,
    reason: null,
    value: null,
    ...patch,
  };
}
