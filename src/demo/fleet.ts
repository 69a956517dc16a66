// startDemoFleet(): a local fleet of embedded SSH servers on loopback for `fleetsh demo` and tests.
// Everything lives in one temporary folder (keys, known_hosts, ssh_config, one folder per host) and
// stop() removes it after closing every server and killing every process the fleet started.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildTracker } from './exec.js';
import { generateKeyPair, knownHostsName, publicKeyBody, renderSshConfig } from './keys.js';
import { writeScripts } from './scripts.js';
import { DemoHostServer, type FleetShared, type HostRuntime } from './server.js';

/** Environment variable set (to the fleet's dir) in every command a demo host runs. */
export const DEMO_MARKER_VAR = 'FLEETSH_DEMO_DIR';

export interface DemoFleetOptions {
  /** Number of hosts (default 24). */
  count?: number;
  /** Host i listens on basePort + i; by default every host gets a free port from the system. */
  basePort?: number;
  /** Indexes (0-based) of hosts that wait `slowMs` before each command. */
  slow?: number[];
  /** Indexes of hosts whose `health-check.sh` (and `systemctl is-active`) fail. */
  failing?: number[];
  /** Indexes of hosts that accept TCP connections and never answer (no SSH banner). */
  silent?: number[];
  /** Delay range of slow hosts in ms (default [300, 1500]). */
  slowMs?: [number, number];
  /** Host name prefix (default 'web': web01, web02, ...). */
  prefix?: string;
  /** The only user name the hosts accept (default 'demo'). */
  user?: string;
  /** Loopback address to listen on (default 127.0.0.1). */
  address?: string;
  /** ConnectTimeout written into the ssh_config, in seconds (default 5). */
  connectTimeout?: number;
}

export interface DemoHost {
  name: string;
  address: string;
  port: number;
  /** The host's own folder: cwd and HOME of its commands. */
  dir: string;
  slow: boolean;
  failing: boolean;
  silent: boolean;
  /** The host's public key line (`ssh-ed25519 AAAA...`). */
  hostKey: string;
  /** This host's known_hosts line (`[127.0.0.1]:PORT ssh-ed25519 AAAA...`). */
  knownHostsLine: string;
}

export interface DemoFleet {
  hosts: DemoHost[];
  knownHostsPath: string;
  clientKeyPath: string;
  clientPublicKey: string;
  sshConfigPath: string;
  user: string;
  dir: string;
  /** Closes every server and connection, kills every process the fleet started, removes `dir`. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function checkIndexes(what: string, list: number[] | undefined, count: number): Set<number> {
  for (const i of list ?? []) {
    if (!Number.isInteger(i) || i < 0 || i >= count) {
      throw new RangeError(`startDemoFleet: ${what} index ${i} is not a host index (0..${count - 1})`);
    }
  }
  return new Set(list);
}

/** PIDs (Linux) whose environment carries this fleet's marker: commands that left their group. */
function markedPids(dir: string): number[] {
  if (process.platform !== 'linux') return [];
  const needle = `${DEMO_MARKER_VAR}=${dir}\0`;
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').includes(needle)) found.push(Number(name));
    } catch {
      // Gone, or not ours.
    }
  }
  return found;
}

function killMarked(dir: string): void {
  for (const pid of markedPids(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

export async function startDemoFleet(options: DemoFleetOptions = {}): Promise<DemoFleet> {
  const count = options.count ?? 24;
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`startDemoFleet: count must be a positive integer`);
  const slow = checkIndexes('slow', options.slow, count);
  const failing = checkIndexes('failing', options.failing, count);
  const silent = checkIndexes('silent', options.silent, count);
  const user = options.user ?? 'demo';
  const address = options.address ?? '127.0.0.1';
  const prefix = options.prefix ?? 'web';
  const width = Math.max(2, String(count).length);

  const dir = await mkdtemp(join(tmpdir(), 'fleetsh-demo-'));
  const tracker = new ChildTracker();
  const servers: DemoHostServer[] = [];
  const onExit = (): void => {
    // The process is exiting without stop(): do what can be done synchronously.
    tracker.stopped = true;
    tracker.killAll();
    killMarked(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      tracker.stopped = true;
      const closing = Promise.all(servers.map((s) => s.close()));
      tracker.killAll();
      killMarked(dir);
      await tracker.waitAll(2000);
      await closing;
      killMarked(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      process.off('exit', onExit);
    })());

  try {
    const client = generateKeyPair(`${user}@fleetsh-demo`);
    const clientKeyPath = join(dir, 'id_ed25519');
    await writeFile(clientKeyPath, client.privateKey, { mode: 0o600 });
    await chmod(clientKeyPath, 0o600);
    await writeFile(`${clientKeyPath}.pub`, `${client.publicKey}\n`);
    const shared: FleetShared = {
      user,
      clientKey: client.parsed,
      tracker,
      marker: [DEMO_MARKER_VAR, dir],
      basePath: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    };

    const runtimes = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const name = `${prefix}${String(i + 1).padStart(width, '0')}`;
        const home = join(dir, 'hosts', name, 'home');
        const binDir = join(dir, 'hosts', name, 'bin');
        await mkdir(home, { recursive: true });
        await mkdir(binDir, { recursive: true });
        await writeScripts(binDir, { failing: failing.has(i) });
        const key = generateKeyPair(`root@${name}`);
        const runtime: HostRuntime = {
          name,
          address,
          home,
          binDir,
          hostPrivateKey: key.privateKey,
          slowMs: slow.has(i) ? (options.slowMs ?? [300, 1500]) : undefined,
          silent: silent.has(i),
        };
        return { runtime, hostKey: publicKeyBody(key.publicKey) };
      }),
    );
    for (const [i, r] of runtimes.entries()) {
      const port = options.basePort === undefined ? 0 : options.basePort + i;
      servers.push(new DemoHostServer(r.runtime, shared, port));
    }
    const ports = await Promise.all(servers.map((s) => s.port));

    const hosts: DemoHost[] = runtimes.map(({ runtime, hostKey }, i) => ({
      name: runtime.name,
      address,
      port: ports[i]!,
      dir: runtime.home,
      slow: slow.has(i),
      failing: failing.has(i),
      silent: silent.has(i),
      hostKey,
      knownHostsLine: `${knownHostsName(address, ports[i]!)} ${hostKey}`,
    }));
    const knownHostsPath = join(dir, 'known_hosts');
    await writeFile(knownHostsPath, hosts.map((h) => `${h.knownHostsLine}\n`).join(''));
    const sshConfigPath = join(dir, 'ssh_config');
    const config = renderSshConfig(hosts, {
      user,
      identityFile: clientKeyPath,
      knownHostsFile: knownHostsPath,
      connectTimeout: options.connectTimeout ?? 5,
    });
    await writeFile(sshConfigPath, config, { mode: 0o600 });

    return {
      hosts,
      knownHostsPath,
      clientKeyPath,
      clientPublicKey: publicKeyBody(client.publicKey),
      sshConfigPath,
      user,
      dir,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    // A port in use, a full disk...: leave nothing behind.
    for (const s of servers) void s.port.catch(() => {});
    await stop();
    throw err;
  }
}

/** A suggested mix for `fleetsh demo`: a few slow hosts and one failing host, spread over the fleet. */
export function demoPersonalities(count: number): { slow: number[]; failing: number[] } {
  const slow = [2, 9, 17].filter((i) => i < count);
  const failing = count >= 8 ? [Math.floor((count * 2) / 3)] : [];
  return { slow, failing: failing.filter((i) => !slow.includes(i)) };
}
