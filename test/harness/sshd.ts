// Starting real OpenSSH sshd processes on loopback addresses, and small socket helpers.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { killFleetProcesses, MARKER_VAR } from './procs.js';

export const SSHD = '/usr/sbin/sshd';
/** One sshd listens on at most 16 ListenAddress entries (MAX_LISTEN_SOCKS in OpenSSH). */
export const MAX_LISTEN = 16;

/**
 * True when sshd and ssh-keygen exist. Under CI=true a missing sshd throws instead, so a CI job can
 * never turn the real-server tests into skips.
 */
export function sshdAvailable(): boolean {
  const ok = existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen') && existsSync('/usr/bin/ssh');
  if (!ok && process.env.CI === 'true') {
    throw new Error(
      `CI=true but OpenSSH (${SSHD}, ssh-keygen, ssh) is not installed: install openssh-server`,
    );
  }
  return ok;
}

/** Raised when an address:port we meant to use is taken; startFleet retries elsewhere. */
export class AddressInUse extends Error {}

const execFileP = promisify(execFile);

/** Generates an unencrypted ed25519 key at `path` (and `path`.pub); returns the public key line. */
export async function keygen(path: string, comment: string): Promise<string> {
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

export interface SshdSpec {
  dir: string; // fleet temp dir; config and files go here
  id: string; // unique per sshd in the fleet, used in file names
  listen: { address: string; port: number }[];
  hostKeyPath: string;
  authorizedKeysPath: string;
  marker: string; // value of MARKER_VAR, see procs.ts
  settings: string[]; // the personality's lines; they replace defaults and extraConfig with the same keyword
  extraConfig?: string;
  onSpawn?: (sshd: Sshd) => void; // called at once, so cleanup knows the pid even if startup fails
}

export interface Sshd {
  pid: number;
  configPath: string;
  running(): boolean;
  stderr(): string; // last few KB, for error messages
}

const keyword = (line: string) => line.trim().split(/\s+/)[0]!.toLowerCase();

/**
 * Defaults, overridden keyword by keyword by extraConfig and then by the personality's settings.
 * Lines are dropped rather than relied on by order: most sshd keywords keep their first value, but
 * some (MaxStartups) keep their last.
 */
function sshdConfig(spec: SshdSpec): string {
  const lines = (text: string) =>
    text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const extra = lines(spec.extraConfig ?? '');
  // sshd honours only the first SetEnv line, so merge the caller's into ours (later values win).
  const setEnv = [
    `${MARKER_VAR}=${spec.marker}`, // lets cleanup find processes that sessions leave behind
    // Debian's bash sources ~/.bashrc for `ssh host cmd` only when SHLVL < 2. root's .bashrc here
    // runs `pyenv init` (~0.5 s a command, and it stalls under concurrency on pyenv's lock).
    'SHLVL=1',
    ...extra.filter((l) => keyword(l) === 'setenv').map((l) => l.trim().replace(/^\S+\s+/, '')),
  ];
  const defaults = [
    ...spec.listen.map(
      (l) => `ListenAddress ${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`,
    ),
    `HostKey ${spec.hostKeyPath}`,
    `AuthorizedKeysFile ${spec.authorizedKeysPath}`,
    `PidFile none`,
    `StrictModes no`, // key files in a temp dir do not pass the ownership/mode checks
    `UsePAM no`,
    `PermitRootLogin yes`,
    `PasswordAuthentication no`,
    `KbdInteractiveAuthentication no`,
    `MaxStartups 1000:30:1000`, // default 10:30:100 drops connections when a fleet connects at once
    `MaxSessions 100`,
    `LogLevel ERROR`,
    `PrintMotd no`,
    `PrintLastLog no`,
    `UseDNS no`,
    `AcceptEnv *`,
    `Subsystem sftp internal-sftp`,
  ];
  const personal = new Set(spec.settings.map(keyword));
  const fromExtra = extra.filter((l) => keyword(l) !== 'setenv' && !personal.has(keyword(l)));
  // Only lines before a Match block replace defaults: inside one, they apply to some users only.
  const match = fromExtra.findIndex((l) => keyword(l) === 'match');
  const global = match < 0 ? fromExtra : fromExtra.slice(0, match);
  const overridden = new Set([...personal, ...global.map(keyword)]);
  const kept = defaults.filter((l) => !overridden.has(keyword(l)));
  // extraConfig goes last so that a Match block in it stays a block.
  return [...kept, ...spec.settings, `SetEnv ${setEnv.join(' ')}`, ...fromExtra, ''].join('\n');
}

/** Starts `sshd -D -e` with a generated config; resolves once it listens on every address. */
export async function startSshd(spec: SshdSpec, timeoutMs = 10_000): Promise<Sshd> {
  const configPath = join(spec.dir, `sshd_config.${spec.id}`);
  await writeFile(configPath, sshdConfig(spec));
  // sshd refuses to start without its privilege separation directory.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  // detached: a terminal's Ctrl-C must not kill the listener before cleanup can scan its children.
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    env: { ...process.env, [MARKER_VAR]: spec.marker },
  });
  let err = '';
  let exited = false;
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-8192);
  });
  child.on('exit', () => (exited = true));
  // A forgotten fleet must not keep the test process alive; the exit handler kills it.
  child.unref();
  (child.stderr as net.Socket).unref();
  const sshd: Sshd = { pid: child.pid!, configPath, running: () => !exited, stderr: () => err };
  spec.onSpawn?.(sshd);
  const fail = async (msg: string) => {
    if (!exited) await killFleetProcesses([sshd.pid], spec.marker); // with the probes' children
    const text = `${msg}\n${err.trim()}`;
    return /Address already in use/.test(err) ? new AddressInUse(text) : new Error(text);
  };
  // One banner shows the listener is up: sshd binds every address before it accepts. A banner
  // costs a fork and re-exec of sshd (~25 ms of CPU), so the other addresses are checked in
  // /proc/net/tcp, and the log tells whether an address was taken by someone else.
  const first = spec.listen[0]!;
  try {
    await waitUntil(
      timeoutMs,
      () => exited,
      () =>
        readBanner(first.address, first.port, 2000).then(
          () => true,
          () => false,
        ),
    );
  } catch {
    throw await fail(`sshd ${configPath} did not come up${exited ? ' (exited)' : ''}`);
  }
  const listening = await listeningSockets();
  // IPv6 listeners (a test's [::1]) are not in /proc/net/tcp: the banner above showed the first.
  const missing = spec.listen.filter(
    (l) => !l.address.includes(':') && !listening.has(`${l.address}:${l.port}`),
  );
  if (missing.length > 0 || /Bind to port|Address already in use/.test(err)) {
    throw await fail(
      `sshd ${configPath} could not bind ${missing.map((l) => `${l.address}:${l.port}`).join(' ')}`,
    );
  }
  return sshd;
}

/** "address:port" of every listening IPv4 TCP socket, from /proc/net/tcp. */
async function listeningSockets(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const line of (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    if (state !== '0A' || !local) continue; // 0A = TCP_LISTEN
    const [ipHex, portHex] = local.split(':') as [string, string];
    const order = endianness() === 'LE' ? [3, 2, 1, 0] : [0, 1, 2, 3]; // the kernel prints the raw u32
    const ip = order.map((i) => parseInt(ipHex.slice(i * 2, i * 2 + 2), 16)).join('.');
    out.add(`${ip}:${parseInt(portHex, 16)}`);
  }
  return out;
}

async function waitUntil(timeoutMs: number, aborted: () => boolean, probe: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (aborted() || Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 15));
  }
}

/** Connects and reads the server's identification line; `ms` is the time from connect to banner. */
export function readBanner(
  address: string,
  port: number,
  timeoutMs: number,
): Promise<{ banner: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = net.connect({ host: address, port });
    let buf = '';
    const done = (e: Error | null) => {
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve({ banner: buf.split('\r\n')[0]!, ms: Date.now() - started });
    };
    const timer = setTimeout(
      () => done(new Error(`no banner from ${address}:${port} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('SSH-2.0') ? null : new Error(`unexpected banner ${buf}`));
    });
    sock.on('error', done);
    sock.on('close', () => done(new Error(`closed by ${address}:${port} before a banner`)));
  });
}

/** Resolves true if nothing is bound to address:port (we can bind it ourselves). */
export function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A port the kernel considers free on `address` right now. */
export function ephemeralPort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: address, port: 0 }, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
