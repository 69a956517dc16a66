// Every wait ends: a server that stops answering at any step of the protocol cannot hold a call past
// its timeout. Each case freezes a hostile ssh2 server (test/harness/hostile.ts) at one step, or a
// real sshd with SIGSTOP, and checks that the call settles within its timeout and a measured margin
// with the documented kind, that a healthy host on the same pool is unaffected, and that the frozen
// connection does not outlive the call (the server sees it closed). The last suite checks that a
// script exits by itself afterwards.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConnectionError, TimeoutError } from '../../src/process/errors.js';
import type { SshFunction, SshShell } from '../../src/ssh/shell.js';
import { TransferError } from '../../src/ssh/sftp.js';
import { LATE_ANSWER_MS } from '../../src/ssh/connection.js';
import { sessionOf } from '../../src/ssh/shell-session.js';
import { CLOSE_WAIT_MS } from '../../src/ssh/sftp-session.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { signalAll } from '../harness/procs.js';
import { startHostile, type FreezePoint, type HostileServer } from '../harness/hostile.js';
import { settlesWithin } from '../harness/settle.js';
import { sshFor, targetOf, warmShells } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

/**
 * How late a call may settle past its bound. Measured with `stress-ng --cpu 2` beside these files:
 * 10-60 ms for a command's timeout, up to 200 ms for a connect timeout (the connection's preparation
 * comes first), 560 ms through a jump host (its own handshake), 460 ms for an upload's cleanup (a
 * fresh connection after the close wait); about half that on an idle machine.
 */
const MARGIN_MS = 1500;
/** The kill grace of a command (SIGTERM, then SIGKILL 2 s later) and the wait for its channel after. */
const KILL_MS = 2000 + 1000;

describe('every wait ends when the server stops answering', { skip, concurrency: true }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  let work: string;
  before(async () => {
    fleet = await startFleet({ healthy: 1 });
    ssh = sshFor(fleet);
    work = mkdtempSync(path.join(tmpdir(), 'fleetsh-stalls-'));
    writeFileSync(path.join(work, 'up.bin'), Buffer.alloc(256 * 1024, 7));
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /**
   * Runs `call` against a server frozen at `at`, beside a command on a healthy host of the same pool.
   * The time is counted from the call, or from `connected()` for a call that connects first (a
   * command's timeout counts from its connection).
   */
  async function frozen(
    at: FreezePoint,
    limitMs: number,
    call: (server: HostileServer, connected: () => void) => PromiseLike<unknown>,
  ): Promise<{ error: unknown; ms: number; server: HostileServer }> {
    const server = await startHostile({ freezeAt: at });
    try {
      let t0 = performance.now();
      const healthy = ssh(targetOf(fleet, fleet.healthy[0]!))`echo unaffected`;
      const error = await settlesWithin(
        call(server, () => (t0 = performance.now())),
        limitMs + 10_000,
        `a call against a server frozen at ${at}`,
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      const ms = performance.now() - t0;
      console.log(`frozen at ${at}: settled after ${Math.round(ms)} ms (limit ${limitMs} ms)`);
      assert.equal((await healthy).stdout, 'unaffected\n', 'the healthy host is unaffected');
      assert.ok(error !== undefined, `frozen at ${at}: the call resolved`);
      assert.ok(ms < limitMs, `frozen at ${at}: settled after ${Math.round(ms)} ms, limit ${limitMs} ms`);
      assert.ok(server.reached.includes(at) || at === 'kex', `the server froze at ${at}: ${server.reached}`);
      // Nothing is left open: the frozen connection is closed once the call gave up on it.
      for (let i = 0; i < 100 && server.open() > 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(server.open(), 0, `frozen at ${at}: a connection to the server is still open`);
      return { error, ms, server };
    } finally {
      await server.close();
    }
  }

  const connectKind = (e: unknown, stage: RegExp) => {
    assert.ok(e instanceof ConnectionError, String(e));
    assert.equal(e.kind, 'connect-timeout');
    assert.match(e.message, stage);
  };

  test('key exchange: connect-timeout after connectTimeout', async () => {
    const { error } = await frozen(
      'kex',
      1000 + MARGIN_MS,
      (s) => ssh(s.target({ connectTimeout: '1s' }))`true`,
    );
    connectKind(error, /the SSH handshake did not finish .* within 1 s/);
  });

  test('authentication: connect-timeout after connectTimeout', async () => {
    const { error } = await frozen(
      'auth',
      1000 + MARGIN_MS,
      (s) => ssh(s.target({ connectTimeout: '1s' }))`true`,
    );
    connectKind(error, /the SSH handshake did not finish/);
  });

  /** A shell on the server, connected: what the command's timeout counts from. */
  const connectedShell = async (s: HostileServer, connected: () => void) => {
    const sh = ssh(s.target());
    await sh.connect();
    connected();
    return sh;
  };

  for (const at of ['session', 'exec'] as const) {
    test(`a ${at === 'session' ? 'session channel open' : 'exec request'} left unanswered: the command's timeout fires`, async () => {
      const { error } = await frozen(at, 1000 + MARGIN_MS, async (s, connected) =>
        (await connectedShell(s, connected))`true`.timeout('1s'),
      );
      assert.ok(error instanceof TimeoutError, String(error));
      assert.match(error.message, /timed out after 1 s/);
    });
  }

  test('a running command on a server that stops answering: the timeout fires and the call ends after the kill grace', async () => {
    const { error } = await frozen('running', 1000 + KILL_MS + MARGIN_MS, async (s, connected) =>
      (await connectedShell(s, connected))`sleep`.timeout('1s'),
    );
    assert.ok(error instanceof TimeoutError, String(error));
  });

  test('an SFTP subsystem request left unanswered: the transfer times out', async () => {
    const { error } = await frozen('sftp-subsystem', 1000 + MARGIN_MS, (s) =>
      ssh(s.target()).uploadFile(path.join(work, 'up.bin'), '/tmp/x/up.bin', { timeout: '1s' }),
    );
    assert.ok(error instanceof TransferError, String(error));
    assert.equal(error.kind, 'timeout');
  });

  test('an SFTP write left unanswered mid-transfer: the upload times out and removes its temporary file', async () => {
    // The cleanup waits for the frozen session's close (CLOSE_WAIT_MS), then removes the file on a fresh connection.
    const { error, server } = await frozen('sftp-write', 1000 + CLOSE_WAIT_MS + MARGIN_MS, (s) =>
      ssh(s.target()).uploadFile(path.join(work, 'up.bin'), '/tmp/x/up.bin', { timeout: '1s' }),
    );
    assert.ok(error instanceof TransferError, String(error));
    assert.equal(error.kind, 'timeout');
    assert.doesNotMatch(error.message, /could not be removed/);
    const temp = server.reached.find((r) => r.startsWith('open:/tmp/x/.up.bin.fleetsh-'));
    assert.ok(temp, `a temporary file was written: ${server.reached}`);
    assert.ok(
      server.reached.includes(`remove:${temp.slice('open:'.length)}`),
      `and removed: ${server.reached}`,
    );
  });

  test('an SFTP directory listing left unanswered: the download times out', async () => {
    const dest = path.join(work, 'down-readdir');
    const { error } = await frozen('sftp-readdir', 1000 + MARGIN_MS, (s) =>
      ssh(s.target()).downloadDirectory('/srv', dest, { timeout: '1s' }),
    );
    assert.ok(error instanceof TransferError, String(error));
    assert.equal(error.kind, 'timeout');
    assert.ok(!existsSync(dest) || readdirSync(dest).length === 0);
  });

  test('a jump host that never opens the forwarded connection: connect-timeout after connectTimeout', async () => {
    const { error } = await frozen(
      'tcpip',
      1000 + MARGIN_MS,
      (s) => ssh({ ...s.target(), host: '127.0.0.2', port: 9, jump: s.target(), connectTimeout: '1s' })`true`,
    );
    assert.ok(error instanceof ConnectionError, String(error));
    assert.equal(error.kind, 'connect-timeout');
  });

  test('a tunnel whose host never opens the forwarded connection: the local client is dropped after connectTimeout', async () => {
    const server = await startHostile({ freezeAt: 'tcpip' });
    const s = ssh(server.target({ connectTimeout: '1s' }));
    try {
      const tunnel = await s.tunnel({ remotePort: 9 });
      const t0 = performance.now();
      const client = net.connect(tunnel.localPort, '127.0.0.1');
      client.on('error', () => {});
      await settlesWithin(new Promise((r) => client.on('close', r)), 10_000, 'the tunnelled client');
      const ms = performance.now() - t0;
      assert.ok(ms < 1000 + MARGIN_MS, `the client was dropped after ${Math.round(ms)} ms`);
      assert.ok(server.reached.includes('tcpip'));
      await tunnel.close();
    } finally {
      await s.close();
      await server.close();
    }
  });
});

describe('a script exits by itself after a call against a frozen server', { skip, concurrency: true }, () => {
  const fixture = new URL('./fixtures/stalled-call.ts', import.meta.url).pathname;
  let work: string;
  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'fleetsh-stalls-exit-'));
    writeFileSync(path.join(work, 'up.bin'), Buffer.alloc(256 * 1024, 7));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const cases: Array<[FreezePoint, 'exec' | 'sleep' | 'upload' | 'download', string]> = [
    ['session', 'exec', 'timeout'],
    ['exec', 'exec', 'timeout'],
    ['running', 'sleep', 'timeout'],
    ['sftp-subsystem', 'upload', 'timeout'],
    ['sftp-write', 'upload', 'timeout'],
    ['sftp-readdir', 'download', 'timeout'],
  ];
  for (const [at, call, kind] of cases) {
    test(`frozen at ${at}: ${call} ends with ${kind}, and the script exits`, async () => {
      const server = await startHostile({ freezeAt: at });
      try {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            fixture,
            JSON.stringify({ target: server.target(), call, file: path.join(work, 'up.bin') }),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        let err = '';
        let printedAt = 0;
        child.stdout.on('data', (d) => ((out += d), (printedAt ||= performance.now())));
        child.stderr.on('data', (d) => (err += d));
        const code = await settlesWithin(
          new Promise<number | null>((r) => child.on('exit', (c) => r(c))),
          60_000,
          'the script',
        ).finally(() => child.kill('SIGKILL'));
        const exitedAt = performance.now();
        assert.equal(code, 0, err);
        const result = JSON.parse(out) as { kind: string; ms: number };
        assert.equal(result.kind, kind);
        // Measured: the process ends 5-40 ms after its last line; under load, within a second.
        const lingered = exitedAt - printedAt;
        assert.ok(lingered < 2000, `the script lingered ${Math.round(lingered)} ms after its call ended`);
      } finally {
        await server.close();
      }
    });
  }
});

describe('every wait ends against a real sshd', { skip, concurrency: true }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet({ healthy: 2, maxSessions: 2 });
  });
  after(() => fleet?.stop());

  /**
   * The sshd process serving a shell's pooled connection: the parent of a command's shell. Stopping
   * it freezes that connection alone, not the other tests' connections to the same sshd.
   */
  async function servingPid(s: SshShell): Promise<number[]> {
    const pid = Number((await s`echo $PPID`).stdout.trim());
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'latin1'), /^sshd: /, 'the parent is sshd');
    return [pid];
  }

  // These two freeze sshd before an exec request; the persistent shell's case follows them.
  test('sshd frozen (SIGSTOP) under a pooled connection: the timeout fires, and the next command gets a fresh connection', async () => {
    const ssh = sshFor(fleet, { persistentShell: false });
    const s = ssh(targetOf(fleet, fleet.healthy[0]!));
    let stopped: number[] = [];
    try {
      await s`true`;
      stopped = await servingPid(s);
      signalAll(stopped, 'SIGSTOP');
      const t0 = performance.now();
      await assert.rejects(
        settlesWithin(s`true`.timeout('1s'), 15_000, 'a command on a frozen sshd'),
        TimeoutError,
      );
      const ms = performance.now() - t0;
      assert.ok(ms < 1000 + MARGIN_MS, `settled after ${Math.round(ms)} ms`);
      // Silent past LATE_ANSWER_MS: the connection was retired, and a fresh one serves the next command.
      await new Promise((r) => setTimeout(r, LATE_ANSWER_MS + 300));
      signalAll(stopped, 'SIGCONT');
      const before = ssh.pool.stats().handshakes;
      assert.equal((await s`echo fresh`).stdout, 'fresh\n');
      assert.equal(ssh.pool.stats().handshakes, before + 1);
    } finally {
      signalAll(stopped, 'SIGCONT');
      await ssh.close();
    }
  });

  test('a server that answers just after a timeout keeps its connection, and the late command is killed', async () => {
    const ssh = sshFor(fleet, { persistentShell: false });
    const s = ssh(targetOf(fleet, fleet.healthy[0]!));
    const mark = `late-${process.pid}-${Date.now()}`;
    let stopped: number[] = [];
    try {
      await s`true`;
      stopped = await servingPid(s);
      signalAll(stopped, 'SIGSTOP');
      const started = path.join(tmpdir(), mark);
      await assert.rejects(s`touch ${started}; sleep 30; : ${mark}`.timeout('300ms'), TimeoutError);
      signalAll(stopped, 'SIGCONT'); // well within LATE_ANSWER_MS
      const before = ssh.pool.stats().handshakes;
      assert.equal((await s`echo same`).stdout, 'same\n');
      assert.equal(ssh.pool.stats().handshakes, before, 'the connection was kept');
      // The command the server started late was killed when its answer came.
      // Bounded generously: the kill takes a channel of its own, slow on a busy machine (4 s was not enough at load 15).
      let left = '';
      for (const end = Date.now() + 15_000; Date.now() < end;) {
        left = (await s`pgrep -f ${`s[l]eep 30; : ${mark}`} || true`).stdout.trim();
        if (left === '') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(left, '', 'no process of the late command is left');
      assert.ok(existsSync(started), 'the server did start the command late'); // else this proves nothing
      rmSync(started);
    } finally {
      signalAll(stopped, 'SIGCONT');
      await ssh.close();
    }
  });

  test('sshd frozen (SIGSTOP) under a persistent shell: the timeout fires, the call ends after the kill grace, and the next command gets a fresh connection', async () => {
    const ssh = sshFor(fleet, { persistentShell: true });
    const s = ssh(targetOf(fleet, fleet.healthy[0]!));
    let stopped: number[] = [];
    try {
      await warmShells(ssh, fleet);
      const conn = ssh.pool.connection(await s.resolve());
      const driver = Number((await s`echo $PPID`).stdout.trim());
      assert.equal(driver, sessionOf(conn)?.pid, 'the command ran on the session');
      const sshd = Number(readFileSync(`/proc/${driver}/stat`, 'latin1').split(') ')[1]!.split(' ')[1]);
      assert.match(readFileSync(`/proc/${sshd}/cmdline`, 'latin1'), /^sshd: /, "the driver's parent is sshd");
      stopped = [sshd];
      signalAll(stopped, 'SIGSTOP');
      const t0 = performance.now();
      await assert.rejects(
        settlesWithin(s`true`.timeout('1s'), 15_000, 'a command on a frozen sshd'),
        TimeoutError,
      );
      const ms = performance.now() - t0;
      // The command was sent: it is killed as a running one is, and its call ends after the grace.
      assert.ok(ms < 1000 + KILL_MS + MARGIN_MS, `settled after ${Math.round(ms)} ms`);
      assert.equal(conn.retired || conn.state === 'closed', true, 'the connection was retired');
      signalAll(stopped, 'SIGCONT');
      const before = ssh.pool.stats().handshakes;
      assert.equal((await s`echo fresh`).stdout, 'fresh\n');
      assert.equal(ssh.pool.stats().handshakes, before + 1);
    } finally {
      signalAll(stopped, 'SIGCONT');
      await ssh.close();
    }
  });

  test('a command waiting for a channel under MaxSessions: its timeout and its cancel both fire', async () => {
    const ssh = sshFor(fleet);
    const s = ssh(targetOf(fleet, fleet.healthy[1]!, { maxSessions: 2 }));
    try {
      const busy = [s`sleep 5`.nothrow(), s`sleep 5`.nothrow()];
      const running = busy.map((b) => b.then(() => undefined)); // command promises start when awaited
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      await assert.rejects(settlesWithin(s`true`.timeout('500ms'), 10_000, 'a queued command'), TimeoutError);
      const ac = new AbortController();
      setTimeout(() => ac.abort('enough'), 300);
      await assert.rejects(
        settlesWithin(s`true`.cancelSignal(ac.signal), 10_000, 'a queued, cancelled command'),
        (e: { kind?: string }) => e.kind === 'cancelled',
      );
      const ms = performance.now() - t0;
      assert.ok(ms < 800 + 2 * MARGIN_MS, `both settled after ${Math.round(ms)} ms`);
      for (const b of busy) b.kill();
      await Promise.allSettled(running);
    } finally {
      await ssh.close();
    }
  });

  test('the wait for a handshake slot ends when the slot holder gives up, and a cancel ends it at once', async () => {
    const server = await startHostile({ freezeAt: 'kex' });
    const ssh = sshFor(fleet, { maxHandshakes: 1 });
    try {
      // The frozen server holds the only handshake slot for its connect timeout (2 s).
      const stuck = ssh(server.target({ connectTimeout: '2s' }))`true`.then(
        () => undefined,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 200));
      const ac = new AbortController();
      setTimeout(() => ac.abort('enough'), 300);
      const t0 = performance.now();
      const healthy = ssh(targetOf(fleet, fleet.healthy[0]!));
      await assert.rejects(
        settlesWithin(healthy`true`.cancelSignal(ac.signal), 10_000, 'a cancelled wait for a slot'),
        (e: { kind?: string }) => e.kind === 'cancelled',
      );
      assert.ok(performance.now() - t0 < 300 + MARGIN_MS);
      assert.equal((await settlesWithin(healthy`echo after`, 10_000, 'a wait for a slot')).stdout, 'after\n');
      assert.ok(performance.now() - t0 < 2000 + MARGIN_MS);
      const e = await stuck;
      assert.ok(e instanceof ConnectionError && e.kind === 'connect-timeout', String(e));
    } finally {
      await ssh.close();
      await server.close();
    }
  });
});
