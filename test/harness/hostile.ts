// A hostile or broken SSH server for the "never hang" tests: an ssh2 Server on loopback that freezes
// at one chosen step of the protocol, as a server whose process hangs would. From that step on it
// answers nothing (what arrives is read and dropped: no reply to a request, a close or a
// keepalive), while it still notices the client leaving. Before it, it is a working server: password login, `exec` of a few canned commands,
// SFTP on a folder of its own, and forwarded TCP connections to loopback.
//
// It can also lie in SFTP directory listings (names with `/`, `..`, NUL or control characters).
//
//   const server = await startHostile({ freezeAt: 'exec' });
//   ssh(server.target({ connectTimeout: '2s' }))`true`.timeout('1s')   // must settle
//   await server.close();
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { AcceptConnection, Connection, RejectConnection, ServerChannel } from 'ssh2';
import { generateKeyPair } from '../../src/demo/keys.js';
import type { SshTargetOptions } from '../../src/ssh/types.js';

const { Server, utils } = ssh2;
const { OPEN_MODE, STATUS_CODE } = utils.sftp;

export type FreezePoint =
  | 'kex' // after the version line, before key exchange (a raw server sends the line and stops)
  | 'auth' // the authentication request is never answered
  | 'session' // a session channel open is never answered
  | 'exec' // an exec request is never answered
  | 'running' // the command runs for ever and the server stops answering after the exec reply
  | 'sftp-subsystem' // the sftp subsystem request is never answered
  | 'sftp-write' // the first SFTP WRITE is never answered (a transfer mid-data)
  | 'sftp-readdir' // the first SFTP READDIR is never answered
  | 'tcpip'; // a forwarded TCP connection (tunnel, jump) is never answered

export interface HostileOptions {
  freezeAt?: FreezePoint;
  /** Names a READDIR of any folder returns (with `.` and `..`), each a regular file of `content`. */
  listing?: string[];
  /** What every listed file holds. */
  content?: string;
  /** The mode every listed file claims (default 0o100644). */
  fileMode?: number;
  /** Listed names that are symbolic links, and the path REALPATH resolves each to. */
  links?: Record<string, string>;
  /** Log in any client with the `none` method (the system ssh, which has no password to give). */
  noAuth?: boolean;
}

export interface HostileServer {
  address: string;
  port: number;
  /** Connections accepted so far, and those still open (a frozen one stays open until the client leaves). */
  accepted(): number;
  open(): number;
  /** The steps reached, in order, for assertions ('session', 'exec', 'sftp-write', ...). */
  reached: string[];
  /** Options for `$.ssh()`: password login, the server's key in a known_hosts of its own. */
  target(extra?: Partial<SshTargetOptions>): SshTargetOptions;
  close(): Promise<void>;
}

export const HOSTILE_USER = 'hostile';
const PASSWORD = 'hostile-password';

export async function startHostile(options: HostileOptions = {}): Promise<HostileServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleetsh-hostile-'));
  // Not utils.generateKeyPairSync directly: about 1 key in 256 it makes cannot be parsed (ssh2 1.17).
  const hostKey = generateKeyPair('fleetsh-hostile');
  const sockets = new Set<net.Socket>();
  const reached: string[] = [];
  let accepted = 0;
  const freezeAt = options.freezeAt;

  // ssh2 gives a connection its peer's port, not its socket: find the socket by that port.
  const byPort = new Map<number, net.Socket>();
  const socketOf = new WeakMap<Connection, net.Socket>();
  const ssh = new Server({ hostKeys: [hostKey.privateKey], ident: 'OpenSSH_9.2' }, (conn, info) => {
    const sock = byPort.get(info.port);
    if (sock) socketOf.set(conn, sock);
    serve(conn);
  });

  const freeze = (conn: Connection, step: string) => {
    reached.push(step);
    // Read and drop everything from now on (a paused socket would never see the client leave).
    const sock = socketOf.get(conn);
    sock?.removeAllListeners('data');
    sock?.on('data', () => {});
    // What ssh2 already read may still produce replies: silence them too.
    const proto = (conn as unknown as { _protocol?: Record<string, unknown> })._protocol;
    if (proto)
      for (const k of [
        'channelClose',
        'channelSuccess',
        'channelFailure',
        'requestSuccess',
        'requestFailure',
      ])
        proto[k] = () => {};
  };

  function serve(conn: Connection): void {
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => {
      if (freezeAt === 'auth') return freeze(conn, 'auth');
      if (options.noAuth && ctx.method === 'none') return ctx.accept();
      if (ctx.method === 'password' && ctx.username === HOSTILE_USER && ctx.password === PASSWORD)
        return ctx.accept();
      ctx.reject(['password']);
    });
    conn.on('ready', () => {
      conn.on('session', (accept: AcceptConnection<ssh2.Session>) => {
        if (freezeAt === 'session') return freeze(conn, 'session');
        const session = accept();
        session.on('exec', (acceptExec, _reject, info) => {
          if (freezeAt === 'exec') return freeze(conn, 'exec');
          const ch = acceptExec();
          reached.push(`exec:${info.command.split('\n').pop()}`);
          if (freezeAt === 'running') return freeze(conn, 'running');
          runCanned(ch, info.command);
        });
        session.on('sftp', (acceptSftp) => {
          if (freezeAt === 'sftp-subsystem') return freeze(conn, 'sftp-subsystem');
          serveSftp(conn, acceptSftp(), dir, options, freeze, reached);
        });
      });
      conn.on('tcpip', (accept: AcceptConnection<ServerChannel>, _reject: RejectConnection, info) => {
        if (freezeAt === 'tcpip') return freeze(conn, 'tcpip');
        const out = net.connect(info.destPort, info.destIP);
        out.on('error', () => {});
        const ch = accept();
        out.pipe(ch).pipe(out);
      });
    });
  }

  const raw = net.createServer((sock) => {
    accepted++;
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    if (freezeAt === 'kex') {
      reached.push('kex');
      sock.write('SSH-2.0-OpenSSH_9.2\r\n');
      sock.resume(); // read and ignore the client's key exchange
      return;
    }
    const peer = sock.remotePort!;
    byPort.set(peer, sock);
    sock.on('close', () => byPort.delete(peer));
    ssh.injectSocket(sock);
  });

  await new Promise<void>((resolve, reject) => {
    raw.once('error', reject);
    raw.listen(0, '127.0.0.1', () => resolve());
  });
  raw.unref();
  const port = (raw.address() as net.AddressInfo).port;
  const knownHosts = path.join(dir, 'known_hosts');
  const key = hostKey.parsed;
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${key.type} ${key.getPublicSSH().toString('base64')}\n`);

  return {
    address: '127.0.0.1',
    port,
    accepted: () => accepted,
    open: () => sockets.size,
    reached,
    target: (extra = {}) => ({
      host: '127.0.0.1',
      port,
      username: HOSTILE_USER,
      password: PASSWORD,
      knownHosts,
      sshConfig: false,
      agent: false,
      identitiesOnly: true,
      ...extra,
    }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        raw.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

/** The few commands the server knows: `echo`, `true`, `sleep` (for ever), anything else exits 0. */
function runCanned(ch: ServerChannel, command: string): void {
  ch.on('error', () => {});
  const line = command.split('\n').pop()!.trim();
  if (line.startsWith('sleep')) return; // runs until the channel is closed; signals are ignored
  if (line.startsWith('echo ')) ch.write(`${line.slice(5)}\n`);
  ch.exit(0);
  ch.end();
}

/** A small SFTP server over `root` (writes go nowhere), lying in listings when asked to. */
function serveSftp(
  conn: Connection,
  sftp: ssh2.SFTPWrapper,
  root: string,
  options: HostileOptions,
  freeze: (conn: Connection, step: string) => void,
  reached: string[],
): void {
  const handles = new Map<string, { kind: 'file' | 'dir'; path: string; listed?: boolean }>();
  let next = 0;
  const handle = (kind: 'file' | 'dir', p: string) => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(next++);
    handles.set(h.toString('hex'), { kind, path: p });
    return h;
  };
  const content = Buffer.from(options.content ?? 'hostile\n');
  const fileAttrs = {
    mode: options.fileMode ?? 0o100644,
    uid: 0,
    gid: 0,
    size: content.length,
    atime: 0,
    mtime: 0,
  };
  const dirAttrs = { mode: 0o040755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 };
  const listing = options.listing;
  const isDir = (p: string) => listing === undefined || p === '/' || !listing.some((n) => p.endsWith(n));
  sftp.on('OPEN', (id, filename, flags) => {
    if (flags & OPEN_MODE.WRITE) reached.push(`open:${filename}`);
    sftp.handle(id, handle('file', filename));
  });
  sftp.on('WRITE', (id) => {
    if (options.freezeAt === 'sftp-write') return freeze(conn, 'sftp-write');
    sftp.status(id, STATUS_CODE.OK);
  });
  sftp.on('READ', (id, h, offset, length) => {
    const f = handles.get(h.toString('hex'));
    if (!f || offset >= content.length) return sftp.status(id, STATUS_CODE.EOF);
    sftp.data(id, content.subarray(offset, offset + length));
  });
  sftp.on('FSTAT', (id) => sftp.attrs(id, fileAttrs));
  sftp.on('STAT', (id, p) => sftp.attrs(id, isDir(p) ? dirAttrs : fileAttrs));
  sftp.on('LSTAT', (id, p) => sftp.attrs(id, isDir(p) ? dirAttrs : fileAttrs));
  sftp.on('SETSTAT', (id) => sftp.status(id, STATUS_CODE.OK));
  sftp.on('FSETSTAT', (id) => sftp.status(id, STATUS_CODE.OK));
  sftp.on('REMOVE', (id, p) => {
    reached.push(`remove:${p}`);
    sftp.status(id, STATUS_CODE.OK);
  });
  sftp.on('RENAME', (id) => sftp.status(id, STATUS_CODE.OK));
  sftp.on('EXTENDED', (id) => sftp.status(id, STATUS_CODE.OK));
  sftp.on('MKDIR', (id) => sftp.status(id, STATUS_CODE.OK));
  const linkAttrs = { ...fileAttrs, mode: 0o120777 };
  const links = options.links ?? {};
  const linkOf = (p: string) => Object.keys(links).find((n) => p.endsWith(`/${n}`));
  sftp.on('REALPATH', (id, p) => {
    const link = linkOf(p);
    const real = link ? links[link]! : path.posix.resolve('/', p);
    sftp.name(id, [{ filename: real, longname: '', attrs: dirAttrs }]);
  });
  sftp.on('OPENDIR', (id, p) => sftp.handle(id, handle('dir', p)));
  sftp.on('READDIR', (id, h) => {
    if (options.freezeAt === 'sftp-readdir') return freeze(conn, 'sftp-readdir');
    const d = handles.get(h.toString('hex'));
    if (!d || d.listed) return sftp.status(id, STATUS_CODE.EOF);
    d.listed = true;
    const names = ['.', '..', ...(listing ?? [])];
    sftp.name(
      id,
      names.map((filename) => ({
        filename,
        longname: filename,
        attrs: filename === '.' || filename === '..' ? dirAttrs : filename in links ? linkAttrs : fileAttrs,
      })),
    );
  });
  sftp.on('CLOSE', (id, h) => {
    handles.delete(h.toString('hex'));
    sftp.status(id, STATUS_CODE.OK);
  });
}
