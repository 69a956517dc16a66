// Fault personalities served from the test process itself, and the password test user.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';

export interface InProcessServer {
  close(): Promise<void>;
}

function listen(server: net.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.removeListener('error', reject);
      server.unref(); // a forgotten fleet must not keep the test process alive
      resolve();
    });
  });
}

/** Tracks sockets so close() can destroy them: server.close() alone waits for every client to leave. */
function closer(server: net.Server, sockets: Set<net.Socket>): InProcessServer {
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}

/** 'black-hole': accepts TCP connections and never sends a byte. */
export async function startBlackHole(address: string, port: number): Promise<InProcessServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    sock.resume(); // swallow whatever the client sends
  });
  await listen(server, address, port);
  return closer(server, sockets);
}

/**
 * 'slow': waits `delayMs` after accepting before it connects to the real sshd behind it and pipes
 * bytes both ways, so the server banner (and everything after it) arrives `delayMs` late. Bytes the
 * client sends meanwhile are buffered, not lost.
 */
export async function startSlowProxy(
  address: string,
  port: number,
  backend: { address: string; port: number },
  delayMs: number,
): Promise<InProcessServer> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    track(client);
    client.pause();
    setTimeout(() => {
      if (client.destroyed) return;
      const upstream = net.connect({ host: backend.address, port: backend.port });
      track(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.resume();
    }, delayMs).unref();
  });
  await listen(server, address, port);
  return closer(server, sockets);
}

export const PASSWORD_USER = 'fleetsh-test';
// One random password per machine, kept root-only, so test files running in parallel agree on it
// (each run re-applies it with chpasswd in case it was changed).
const PASSWORD_FILE = '/var/lib/fleetsh-test/password';

/** Creates the password test user if absent and (re)sets its password. */
export function ensurePasswordUser(): { user: string; password: string } {
  if (!existsSync('/usr/sbin/useradd') || !existsSync('/usr/sbin/chpasswd')) {
    throw new Error("the 'password' personality needs useradd and chpasswd (package passwd)");
  }
  try {
    execFileSync('id', ['-u', PASSWORD_USER], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('/usr/sbin/useradd', ['-m', '-s', '/bin/sh', PASSWORD_USER], { stdio: 'pipe' });
    } catch (e) {
      // Exit status 9: a parallel test file created it first.
      if ((e as { status?: number }).status !== 9) throw e;
    }
  }
  mkdirSync('/var/lib/fleetsh-test', { recursive: true, mode: 0o700 });
  if (!existsSync(PASSWORD_FILE)) {
    // Write aside and link into place: link() fails if another process won the race, never half-written.
    const tmp = `${PASSWORD_FILE}.${process.pid}`;
    writeFileSync(tmp, randomBytes(18).toString('base64url'), { mode: 0o600 });
    try {
      linkSync(tmp, PASSWORD_FILE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
  }
  const password = readFileSync(PASSWORD_FILE, 'utf8').trim();
  execFileSync('/usr/sbin/chpasswd', {
    input: `${PASSWORD_USER}:${password}\n`,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  return { user: PASSWORD_USER, password };
}
