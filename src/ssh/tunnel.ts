// Local port forwarding: a listener on 127.0.0.1 (by default) whose connections are carried over the
// target's pooled SSH connection to remoteHost:remotePort, as `ssh -L`. The tunnel keeps the
// connection (and the process) alive until it is closed, and it closes with the connection.
import net from 'node:net';
import { UsageError } from '../process/errors.js';
import type { SshExecutor } from './ssh-executor.js';

export interface TunnelOptions {
  /** Local port; 0 or absent picks a free one (see `tunnel.localPort`). */
  localPort?: number;
  /** Local address to listen on (default 127.0.0.1: other machines cannot use the tunnel). */
  localHost?: string;
  /** Where the SSH server connects to, as seen from the server (default 127.0.0.1). */
  remoteHost?: string;
  remotePort: number;
}

export interface Tunnel {
  readonly localHost: string;
  readonly localPort: number;
  readonly remoteHost: string;
  readonly remotePort: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function openTunnel(executor: SshExecutor, options: TunnelOptions): Promise<Tunnel> {
  const host = executor.host;
  const remoteHost = options.remoteHost ?? '127.0.0.1';
  const remotePort = options.remotePort;
  const localHost = options.localHost ?? '127.0.0.1';
  for (const [name, port, min] of [
    ['remotePort', remotePort, 1],
    ['localPort', options.localPort ?? 0, 0],
  ] as const) {
    if (!Number.isInteger(port) || port < min || port > 65535) {
      throw new UsageError(
        `${host}: tunnel option ${name} must be a port number, got ${JSON.stringify(port)}`,
        { host },
      );
    }
  }
  const conn = await executor.connection();
  // A forwarded connection the host does not open within the connect timeout is dropped.
  const openTimeoutMs = (await executor.target()).connectTimeoutMs;
  const hold = conn.hold();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pause();
    conn.forwardOut(remoteHost, remotePort, { signal: AbortSignal.timeout(openTimeoutMs) }).then(
      (stream) => {
        stream.on('error', () => socket.destroy());
        socket.on('close', () => stream.close());
        stream.on('close', () => socket.destroy());
        socket.pipe(stream).pipe(socket);
        socket.resume();
      },
      () => socket.destroy(),
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.localPort ?? 0, localHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    hold();
    throw new UsageError(
      `${host}: cannot listen on ${localHost}:${options.localPort ?? 0} for a tunnel: ${(e as Error).message}`,
      { host },
    );
  }
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      off();
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
      hold();
    }));
  const off = conn.onClose(() => void close());
  const address = server.address() as net.AddressInfo;
  return {
    localHost,
    localPort: address.port,
    remoteHost,
    remotePort,
    close,
    [Symbol.asyncDispose]: close,
  };
}
