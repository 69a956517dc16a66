// Test NATS server: a real `nats-server` (Debian's package) with JetStream on loopback, for the
// scale-out tests (src/scale-out/).
//
//   import { startNats, natsAvailable } from '../harness/nats.js';
//   test('...', { skip: !natsAvailable() && 'nats-server not installed' }, async () => {
//     await using nats = await startNats();
//     ... connect to nats.url ...
//     await nats.restart();        // kill -9 and start again on the same port and store folder
//   });
//
// startNats() picks a free port on 127.0.0.1 (never 4222, the default a developer's own server
// uses), keeps the JetStream store in a temp folder of its own, and resolves once the server
// accepts TCP. stop() (or `await using`) kills the server by its pid and removes the folder; an
// 'exit' handler does the same for servers never stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ephemeralPort } from './sshd.js';
import type { OperatorAuth } from './nats-operator.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

export function natsAvailable(): boolean {
  return existsSync(NATS_SERVER);
}

export interface TestNats {
  url: string;
  port: number;
  /** With `monitor`: the monitoring endpoint on loopback (`${monitorUrl}/varz` counts messages). */
  monitorUrl?: string;
  dir: string;
  /** The running server's pid (changes on restart). */
  readonly pid: number;
  /** SIGKILL, as a crash would; the store stays. */
  kill(): Promise<void>;
  /** Starts the server again on the same port with the same store (after kill(), or kills first). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface NatsOptions {
  timeoutMs?: number;
  /** Monitoring on loopback (`monitorUrl`). */
  monitor?: boolean;
  /** TLS for clients: the server's certificate and key files (clients then use tls://). */
  tls?: { cert: string; key: string };
  /** Operator mode (decentralized JWT authentication, test/harness/nats-operator.ts): only its users connect. */
  operator?: OperatorAuth;
}

export async function startNats(options: NatsOptions = {}): Promise<TestNats> {
  if (!natsAvailable()) throw new Error(`${NATS_SERVER} is not installed: cannot start a test NATS server`);
  const dir = await mkdtemp(join(tmpdir(), 'fleetsh-nats-'));
  const timeoutMs = options.timeoutMs ?? 20_000;
  let port = 0;
  let monitorPort = 0;
  let child: ChildProcess | undefined;
  let log = '';
  const launch = async (): Promise<void> => {
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'store')];
    let config = '';
    // Monitoring on loopback only (-m alone would listen on every address).
    if (monitorPort) config += `http: "127.0.0.1:${monitorPort}"\n`;
    if (options.tls)
      config += `tls { cert_file: ${JSON.stringify(options.tls.cert)}, key_file: ${JSON.stringify(options.tls.key)} }\n`;
    if (options.operator) {
      // The accounts' JWTs preloaded in memory: no resolver to run (nats-server's MEMORY resolver).
      const o = options.operator;
      config += `operator: ${JSON.stringify(o.operatorJwt)}\nsystem_account: ${o.systemAccount}\nresolver: MEMORY\n`;
      config += `resolver_preload: {\n${Object.entries(o.preload)
        .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`)
        .join('')}}\n`;
    }
    if (config) {
      writeFileSync(join(dir, 'server.conf'), config);
      args.push('-c', join(dir, 'server.conf'));
    }
    const p = spawn(NATS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(p);
    child = p;
    p.stderr!.setEncoding('utf8').on('data', (s: string) => {
      log = (log + s).slice(-8192);
    });
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.once('exit', () => live.delete(p));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null)
        throw new Error(`nats-server exited early (${p.exitCode ?? p.signalCode}):\n${log}`);
      // JetStream is ready once the server logs it; TCP alone comes a moment earlier.
      if (log.includes('Server is ready') && (await accepts(port))) return;
      if (Date.now() > deadline) {
        p.kill('SIGKILL');
        await exited;
        throw new Error(`nats-server did not start within ${timeoutMs} ms:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    const p = child;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  for (let attempt = 1; ; attempt++) {
    port = await ephemeralPort('127.0.0.1');
    if (port === 4222) continue;
    if (options.monitor) monitorPort = await ephemeralPort('127.0.0.1');
    log = '';
    try {
      await launch();
      break;
    } catch (e) {
      if (attempt >= 5 || !/address already in use/i.test(log)) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await kill();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    url: `${options.tls ? 'tls' : 'nats'}://127.0.0.1:${port}`,
    port,
    ...(monitorPort ? { monitorUrl: `http://127.0.0.1:${monitorPort}` } : {}),
    dir,
    get pid() {
      return child?.pid ?? -1;
    },
    kill,
    restart: async () => {
      await kill();
      log = '';
      await launch();
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
