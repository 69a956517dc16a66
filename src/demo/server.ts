// One demo host: a loopback TCP listener whose connections are handed to an ssh2 `Server` that
// authenticates the demo client key and runs `exec` requests through exec.ts. A "silent" host accepts
// TCP connections and never says a word, to show how unreachable hosts are handled.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey, Session } from 'ssh2';
import { isEnvName } from '../process/env.js';
import { runCommand, type ChildTracker, type RunningCommand } from './exec.js';
import { publicKeyMatches } from './keys.js';
import { serveSftp } from './sftp.js';

const { Server } = ssh2;

export interface HostRuntime {
  name: string;
  address: string;
  /** The host's folder: the cwd and HOME of its commands. */
  home: string;
  binDir: string;
  hostPrivateKey: string;
  /** Delay before each command, in ms, or undefined for a prompt host. */
  slowMs?: [number, number];
  silent: boolean;
}

export interface FleetShared {
  user: string;
  clientKey: ParsedKey;
  tracker: ChildTracker;
  /** Marker variable put in every command's environment, so leftovers can be found. */
  marker: [string, string];
  basePath: string;
}

export class DemoHostServer {
  readonly port: Promise<number>;
  private readonly net: NetServer;
  private readonly sockets = new Set<Socket>();
  private readonly conns = new Set<Connection>();

  constructor(
    private readonly host: HostRuntime,
    private readonly shared: FleetShared,
    port: number,
  ) {
    const ssh = host.silent
      ? undefined
      : new Server({ hostKeys: [host.hostPrivateKey], ident: 'fleetshDemo_1.0' }, (conn) =>
          this.onConnection(conn),
        );
    this.net = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
      if (ssh && !shared.tracker.stopped) ssh.injectSocket(socket);
    });
    this.port = new Promise<number>((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen({ port, host: host.address, exclusive: true }, () => {
        this.net.off('error', reject);
        const addr = this.net.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const conn of this.conns) {
      try {
        conn.end();
      } catch {
        // Already closing.
      }
    }
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.net.close(() => resolve()));
  }

  private onConnection(conn: Connection): void {
    const { shared } = this;
    const running = new Set<RunningCommand>();
    this.conns.add(conn);
    conn.on('error', () => {});
    conn.once('close', () => {
      this.conns.delete(conn);
      for (const cmd of running) cmd.abandon();
    });
    conn.on('authentication', (ctx) => {
      if (
        ctx.username === shared.user &&
        ctx.method === 'publickey' &&
        publicKeyMatches(ctx, shared.clientKey)
      ) {
        ctx.accept();
      } else {
        ctx.reject(['publickey']);
      }
    });
    conn.on('ready', () => {
      conn.on('session', (accept) => this.onSession(accept(), running));
    });
  }

  private onSession(session: Session, running: Set<RunningCommand>): void {
    const { host, shared } = this;
    const clientEnv: Record<string, string> = {};
    let current: RunningCommand | undefined;

    session.on('env', (accept, reject, info) => {
      if (isEnvName(info.key)) {
        clientEnv[info.key] = info.val;
        accept?.();
      } else {
        reject?.();
      }
    });
    // A pseudo-terminal is acknowledged but not allocated: commands see pipes.
    session.on('pty', (accept) => accept?.());
    session.on('window-change', (accept) => accept?.());
    session.on('shell', (_accept, reject) => reject?.());
    session.on('signal', (accept, reject, info) => {
      if (current?.signal(info.name)) accept?.();
      else reject?.();
    });
    session.on('sftp', (accept) => serveSftp(accept(), host.home));
    session.on('exec', (accept, reject, info) => {
      if (shared.tracker.stopped) return reject?.();
      const channel = accept();
      const env: NodeJS.ProcessEnv = {
        HOME: host.home,
        USER: shared.user,
        LOGNAME: shared.user,
        SHELL: '/bin/sh',
        PATH: `${host.binDir}:${shared.basePath}`,
        LANG: process.env.LANG ?? 'C.UTF-8',
        ...clientEnv,
        HOSTNAME: host.name,
        FLEETSH_DEMO_HOST: host.name,
        [shared.marker[0]]: shared.marker[1],
      };
      const [min, max] = host.slowMs ?? [0, 0];
      const cmd = runCommand(channel, {
        command: info.command,
        cwd: host.home,
        env,
        delayMs: min + Math.floor(Math.random() * (max - min + 1)),
        tracker: shared.tracker,
      });
      current = cmd;
      running.add(cmd);
      channel.once('close', () => running.delete(cmd));
    });
  }
}
