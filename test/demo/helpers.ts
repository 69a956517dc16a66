// ssh2 client helpers for the demo fleet tests: strict host key checking against the fleet's
// known_hosts, and exec with collected output and exit status.
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig, ExecOptions } from 'ssh2';
import type { DemoFleet, DemoHost } from '../../src/demo/index.js';

const { Client } = ssh2;
export type SshClient = InstanceType<typeof Client>;

/** The host key blob that known_hosts lists for `[address]:port`, or undefined. */
export function knownKey(knownHostsPath: string, address: string, port: number): Buffer | undefined {
  for (const line of readFileSync(knownHostsPath, 'utf8').split('\n')) {
    const [names, , b64] = line.trim().split(/\s+/);
    if (names && b64 && names.split(',').includes(`[${address}]:${port}`)) return Buffer.from(b64, 'base64');
  }
  return undefined;
}

export function connect(
  fleet: DemoFleet,
  host: DemoHost,
  extra: Partial<ConnectConfig> = {},
): Promise<SshClient> {
  const expected = knownKey(fleet.knownHostsPath, host.address, host.port);
  const client = new Client();
  return new Promise((resolve, reject) => {
    client
      .once('ready', () => resolve(client))
      .on('error', (err) => {
        // Later errors (after the first rejected the promise) are expected during teardown.
        client.end();
        reject(err);
      })
      .connect({
        host: host.address,
        port: host.port,
        username: fleet.user,
        privateKey: readFileSync(fleet.clientKeyPath),
        readyTimeout: 10_000,
        hostVerifier: (key: Buffer) => expected !== undefined && key.equals(expected),
        ...extra,
      });
  });
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: string | undefined;
  ms: number;
}

export function openExec(client: SshClient, command: string, opts: ExecOptions = {}): Promise<ClientChannel> {
  return new Promise((resolve, reject) =>
    client.exec(command, opts, (err, stream) => (err ? reject(err) : resolve(stream))),
  );
}

export function collect(stream: ClientChannel, started = Date.now()): Promise<ExecResult> {
  let stdout = '';
  let stderr = '';
  let code: number | null = null;
  let signal: string | undefined;
  stream.on('data', (d: Buffer) => (stdout += d.toString()));
  stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  stream.on('exit', (c: number | null, s?: string) => {
    code = c;
    signal = s;
  });
  return new Promise((resolve) =>
    stream.on('close', () => resolve({ stdout, stderr, code, signal, ms: Date.now() - started })),
  );
}

export async function exec(client: SshClient, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const started = Date.now();
  return collect(await openExec(client, command, opts), started);
}

/** Resolves with the first line the stream prints. */
export function firstLine(stream: ClientChannel): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        stream.off('data', onData);
        resolve(buf.slice(0, nl));
      }
    };
    stream.on('data', onData);
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return process.platform !== 'linux';
  }
}

export async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}
