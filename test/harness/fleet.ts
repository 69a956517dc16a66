// Test fleet harness: real OpenSSH servers on loopback addresses for behaviour tests (DESIGN.md §5).
//
//   import { startFleet, runOnHost, sshdAvailable } from '../harness/fleet.js';
//   test('...', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, async () => {
//     await using fleet = await startFleet({ healthy: 20, faults: ['dead-port', 'slow'] });
//     const r = await runOnHost(fleet, fleet.healthy[0]!, 'echo ok');   // system ssh client
//   });
//
// startFleet(opts) starts one `sshd -D -e` per 16 healthy hosts (its ListenAddress limit) and one per
// sshd-backed fault, all on one random port, each host on its own address in a random 127.A.B.0/24
// block (so parallel test files do not collide; retried elsewhere on a conflict). It resolves once
// every sshd listens on all its addresses (~0.25 s for 20 healthy hosts on an idle machine).
// Generated in `fleet.dir`: host and client ed25519 keys, authorized_keys, known_hosts
// ([address]:port lines), ssh_config (one `Host <name>` block per host, absolute paths only,
// StrictHostKeyChecking yes, GlobalKnownHostsFile /dev/null) and the sshd configs. The system ssh
// reads that ssh_config as it is: the OpenSSH transport's tests give it to `ssh -F` (the transport
// adds BatchMode itself), and bench/peers.ts writes its peers' copies from it.
//
// Hosts: healthy ones are named `${namePrefix}01`, `${namePrefix}02`, ... (namePrefix defaults to 'h')
// unless `aliases` gives names (e.g. web1.example.com) to the first healthy hosts; faults are named
// `${namePrefix}-${personality}` (with a -2, -3 suffix when repeated). Personalities:
//   healthy        root logs in with clientKeyPath
//   dead-port      nothing listens on address:port (connect gets ECONNREFUSED)
//   black-hole     an in-process server accepts TCP and never sends a byte
//   slow           an in-process proxy that waits `slowMs` (default 1500) after accepting before it
//                  pipes to an sshd of its own, so the banner comes slowMs late; then it works
//   changed-key    healthy sshd, but known_hosts holds a different key for it
//   refuses-key    authorized_keys lacks the client key: "Permission denied (publickey)"
//   max-sessions-2 sshd with MaxSessions 2 (a third session channel on one connection is refused)
//   max-startups-2 sshd with MaxStartups 2 (a third unauthenticated connection is dropped)
//   password       user `fleet.password.user` (created on this machine if absent, password reset each
//                  run) logs in with `fleet.password.password`; the client key is not authorized
// extraSshdConfig goes into every sshd_config: its lines replace the harness defaults with the same
// keyword (but not a personality's own settings), its SetEnv values are merged into the harness's,
// and Match blocks may close it. maxSessions sets MaxSessions for healthy hosts (default 100).
// sshdPerHost gives each healthy host an sshd of its own (so that restart() touches one host only).
// Every session gets SHLVL=1 so bash skips ~/.bashrc (root's runs pyenv here: ~0.5 s a command).
//
// restart(host) kills the sshd serving a host with every per-connection process and session under it
// (as a crash or a reboot of the server would), then starts it again from the same config, host key,
// addresses and port; it resolves once the new sshd listens. Hosts sharing that sshd restart too.
//
// stop() (or `await using`) SIGTERMs then SIGKILLs every process the fleet started, including
// per-connection sshd children and what sessions left running, closes the in-process servers and
// removes fleet.dir. An 'exit'/SIGINT/SIGTERM handler does the same for fleets never stopped.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ensurePasswordUser, startBlackHole, startSlowProxy, type InProcessServer } from './faults.js';
import { killFleetProcesses, trackFleet } from './procs.js';
import {
  AddressInUse,
  ephemeralPort,
  keygen,
  MAX_LISTEN,
  portFree,
  SSHD,
  sshdAvailable,
  startSshd,
  type Sshd,
  type SshdSpec,
} from './sshd.js';

export { readBanner, sshdAvailable } from './sshd.js';
export { runOnHost, type RunResult } from './run.js';

/** Every fault personality, one host each: for tests that cover them all. */
export const ALL_FAULTS = [
  'dead-port',
  'black-hole',
  'slow',
  'changed-key',
  'refuses-key',
  'max-sessions-2',
  'max-startups-2',
  'password',
] as const;

export type Personality = 'healthy' | (typeof ALL_FAULTS)[number];

export interface FleetHost {
  name: string;
  address: string;
  port: number;
  personality: Personality;
  /** The sshd_config serving this host (for the slow host: the sshd behind the proxy). */
  sshdConfigPath?: string;
}

export interface TestFleet {
  dir: string; // temp folder holding everything; removed by stop()
  hosts: FleetHost[]; // healthy hosts first, then faults in the order asked
  healthy: FleetHost[];
  host(name: string): FleetHost; // throws for an unknown name
  user: string; // the user running the tests (root), User of every host but the password one
  clientKeyPath: string; // unencrypted ed25519 private key
  knownHostsPath: string;
  sshConfigPath: string;
  password?: { user: string; password: string }; // with the 'password' personality
  slowMs: number;
  /** Arguments for the system ssh client before the command: -F config, BatchMode, curve25519 kex, ConnectTimeout=10, name. */
  sshArgs(host: FleetHost): string[];
  /** Kills the sshd serving `host` and everything under it, then starts it again on the same address and port. */
  restart(host: FleetHost): Promise<void>;
  stop(): Promise<void>; // idempotent
  [Symbol.asyncDispose](): Promise<void>;
}

export interface FleetOptions {
  healthy?: number; // default 3
  faults?: Personality[]; // one host each
  namePrefix?: string; // default 'h'
  aliases?: string[]; // names for the first healthy hosts instead of h01, h02, ...
  extraSshdConfig?: string;
  maxSessions?: number; // MaxSessions of healthy hosts, default 100
  slowMs?: number; // banner delay of the slow host, default 1500
  sshdPerHost?: boolean; // one sshd per healthy host instead of one per 16
}

export async function startFleet(opts: FleetOptions = {}): Promise<TestFleet> {
  if (!sshdAvailable()) throw new Error(`OpenSSH server not installed (${SSHD}): cannot start a test fleet`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      const inUse = e instanceof AddressInUse || (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (!inUse || attempt >= 5) throw e;
    }
  }
}

/** Addresses 127.A.B.1, .2, ... for a random A >= 2 (never 127.0.0.1 or 127.1.x.x) and B. */
function addressBlock(count: number): string[] {
  let n = ((2 + Math.floor(Math.random() * 252)) << 16) | (Math.floor(Math.random() * 256) << 8);
  const out: string[] = [];
  while (out.length < count) {
    n++;
    if ((n & 0xff) === 0 || (n & 0xff) === 255) continue;
    out.push(`127.${(n >> 16) & 0xff}.${(n >> 8) & 0xff}.${n & 0xff}`);
  }
  return out;
}

/** How the sshd of each sshd-backed fault differs from a healthy one (each gets an sshd of its own). */
const SSHD_FAULTS: Partial<Record<Personality, { settings?: string[]; keyRefused?: boolean }>> = {
  'changed-key': {}, // the difference is in known_hosts
  'refuses-key': { keyRefused: true },
  'max-sessions-2': { settings: ['MaxSessions 2'] },
  'max-startups-2': { settings: ['MaxStartups 2'] },
  password: {
    settings: ['PasswordAuthentication yes', 'KbdInteractiveAuthentication yes'],
    keyRefused: true,
  },
  slow: {}, // the sshd behind the proxy
};

function nameHosts(personalities: Personality[], addresses: string[], port: number, opts: FleetOptions) {
  const prefix = opts.namePrefix ?? 'h';
  const width = Math.max(2, String(opts.healthy ?? 3).length);
  const seen = new Map<Personality, number>();
  return personalities.map((personality, i): FleetHost => {
    let name = opts.aliases?.[i] ?? `${prefix}${String(i + 1).padStart(width, '0')}`;
    if (personality !== 'healthy') {
      const k = (seen.get(personality) ?? 0) + 1;
      seen.set(personality, k);
      name = `${prefix}-${personality}${k > 1 ? `-${k}` : ''}`;
    }
    return { name, address: addresses[i]!, port, personality };
  });
}

async function startOnce(opts: FleetOptions): Promise<TestFleet> {
  const faults = opts.faults ?? [];
  const slowMs = opts.slowMs ?? 1500;
  const personalities: Personality[] = [...Array<Personality>(opts.healthy ?? 3).fill('healthy'), ...faults];
  const addresses = addressBlock(personalities.length);
  const port = 20000 + Math.floor(Math.random() * 12000); // below Linux's ephemeral port range
  const free = await Promise.all(addresses.map((a) => portFree(a, port)));
  if (!free.every(Boolean)) throw new AddressInUse(`port ${port} taken on an address`);
  const password = faults.includes('password') ? ensurePasswordUser() : undefined;
  const hosts = nameHosts(personalities, addresses, port, opts);
  const healthy = hosts.filter((h) => h.personality === 'healthy');

  const dir = await mkdtemp(join(tmpdir(), 'fleetsh-fleet-'));
  const sshds: Sshd[] = [];
  const servers: InProcessServer[] = [];
  const listeners = () => sshds.filter((s) => s.running()).map((s) => s.pid);
  const untrack = trackFleet({ roots: listeners, marker: dir, dir });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(servers.map((s) => s.close()));
      await killFleetProcesses(listeners(), dir);
      untrack();
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    const clientKeyPath = join(dir, 'client_ed25519');
    const [clientPub, otherPub] = await Promise.all([
      keygen(clientKeyPath, 'fleetsh-test-client'),
      keygen(join(dir, 'other_ed25519'), 'fleetsh-test-other'), // the "wrong" key of several faults
    ]);
    const authorized = join(dir, 'authorized_keys');
    const refused = join(dir, 'authorized_keys.refused');
    await Promise.all([writeFile(authorized, `${clientPub}\n`), writeFile(refused, `${otherPub}\n`)]);

    // One sshd per 16 healthy hosts, one per sshd-backed fault.
    const healthySettings = opts.maxSessions ? [`MaxSessions ${opts.maxSessions}`] : [];
    const groups: { hosts: FleetHost[]; settings: string[]; authorizedKeysPath: string }[] = [];
    const perSshd = opts.sshdPerHost ? 1 : MAX_LISTEN;
    for (let i = 0; i < healthy.length; i += perSshd) {
      const slice = healthy.slice(i, i + perSshd);
      groups.push({ hosts: slice, settings: healthySettings, authorizedKeysPath: authorized });
    }
    for (const h of hosts) {
      const fault = SSHD_FAULTS[h.personality];
      if (!fault) continue;
      const authorizedKeysPath = fault.keyRefused ? refused : authorized;
      groups.push({ hosts: [h], settings: fault.settings ?? healthySettings, authorizedKeysPath });
    }

    const hostKeys = new Map<FleetHost, string>(); // host -> the public key its server presents
    const specs = new Map<string, SshdSpec>(); // sshd config path -> how to start that sshd again
    const startGroup = async (g: (typeof groups)[number], i: number) => {
      const hostKeyPath = join(dir, `host_ed25519.${i}`);
      const pub = await keygen(hostKeyPath, `fleetsh-test-host-${i}`);
      const slow = g.hosts[0]!.personality === 'slow';
      // The slow host's own address:port belongs to the proxy; its sshd listens on another port.
      const listenPort = slow ? await ephemeralPort(g.hosts[0]!.address) : port;
      const listen = g.hosts.map((h) => ({ address: h.address, port: listenPort }));
      const { extraSshdConfig: extraConfig } = opts;
      const onSpawn = (s: Sshd) => sshds.push(s);
      const spec = { ...g, dir, id: String(i), listen, hostKeyPath, marker: dir, extraConfig, onSpawn };
      const sshd = await startSshd(spec);
      specs.set(sshd.configPath, spec);
      for (const h of g.hosts) {
        hostKeys.set(h, h.personality === 'changed-key' ? otherPub : pub);
        h.sshdConfigPath = sshd.configPath;
      }
      if (slow) servers.push(await startSlowProxy(g.hosts[0]!.address, port, listen[0]!, slowMs));
    };
    const startBlackHoleHost = async (h: FleetHost) => servers.push(await startBlackHole(h.address, port));
    // Wait for every start, even after a failure, so stop() sees every process before it runs.
    const results = await Promise.allSettled([
      ...groups.map(startGroup),
      ...hosts.filter((h) => h.personality === 'black-hole').map(startBlackHoleHost),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    const files = await writeClientFiles(
      dir,
      hosts,
      (h) => hostKeys.get(h) ?? otherPub,
      clientKeyPath,
      password,
    );
    const byName = new Map(hosts.map((h) => [h.name, h]));
    return {
      dir,
      hosts,
      healthy,
      host(name) {
        const h = byName.get(name);
        if (!h) throw new Error(`no host named ${name} in fleet (${[...byName.keys()].join(', ')})`);
        return h;
      },
      user: files.user,
      clientKeyPath,
      knownHostsPath: files.knownHostsPath,
      sshConfigPath: files.sshConfigPath,
      password,
      slowMs,
      sshArgs: (h) => ['-F', files.sshConfigPath, ...SSH_OPTIONS, h.name],
      restart: (h) => restartSshd(h, specs, sshds),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Kills the sshd serving `host` (the listener and its descendants, nothing else), then starts it again. */
async function restartSshd(host: FleetHost, specs: Map<string, SshdSpec>, sshds: Sshd[]): Promise<void> {
  const spec = host.sshdConfigPath ? specs.get(host.sshdConfigPath) : undefined;
  if (!spec) throw new Error(`${host.name} (${host.personality}) is not served by an sshd of the harness`);
  const old = sshds.find((s) => s.configPath === host.sshdConfigPath && s.running());
  // A marker no process carries: only the listener and its descendants are killed, not the fleet.
  if (old) await killFleetProcesses([old.pid], `${spec.marker}#restart`);
  for (let attempt = 1; ; attempt++) {
    try {
      await startSshd(spec);
      return;
    } catch (e) {
      // The old listener's socket may take a moment to be released.
      if (!(e instanceof AddressInUse) || attempt >= 5) throw e;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

// BatchMode: never prompt. curve25519: the default sntrup761 kex costs ~7x the CPU here.
const SSH_OPTIONS = [
  '-o',
  'BatchMode=yes',
  '-o',
  'KexAlgorithms=curve25519-sha256',
  '-o',
  'ConnectTimeout=10',
];

/** known_hosts ([address]:port lines; dead-port and black-hole get the unrelated key) and ssh_config. */
async function writeClientFiles(
  dir: string,
  hosts: FleetHost[],
  hostKey: (h: FleetHost) => string,
  clientKeyPath: string,
  password: { user: string } | undefined,
) {
  const knownHostsPath = join(dir, 'known_hosts');
  const sshConfigPath = join(dir, 'ssh_config');
  const user = userInfo().username;
  await writeFile(knownHostsPath, hosts.map((h) => `[${h.address}]:${h.port} ${hostKey(h)}\n`).join(''));
  const block = (h: FleetHost) =>
    [
      `Host ${h.name}`,
      `  HostName ${h.address}`,
      `  Port ${h.port}`,
      `  User ${h.personality === 'password' ? password!.user : user}`,
      `  IdentityFile ${clientKeyPath}`,
      `  IdentitiesOnly yes`,
      `  UserKnownHostsFile ${knownHostsPath}`,
      `  GlobalKnownHostsFile /dev/null`,
      `  StrictHostKeyChecking yes`,
      '',
    ].join('\n');
  await writeFile(sshConfigPath, hosts.map(block).join('\n'));
  return { user, knownHostsPath, sshConfigPath };
}
