// The agent in this process, without hosts: who may talk to it (token, folder and socket owner and
// mode), a malformed frame ends that client only, a stale lock is taken over, the idle timeout, and
// which targets the CLI keeps from it (those holding a secret).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AgentClient } from '../../src/agent/client.js';
import { description } from '../../src/agent/connect.js';
import { Agent, AgentRunningError, alive } from '../../src/agent/daemon.js';
import { agentPaths, AgentUnsafeError, type AgentPaths } from '../../src/agent/paths.js';
import { encodeFrame, PROTOCOL_VERSION } from '../../src/agent/protocol.js';

const roots: string[] = [];
function freshPaths(): AgentPaths {
  const root = mkdtempSync(join(tmpdir(), 'fleetsh-agent-test-'));
  roots.push(root);
  return agentPaths({ XDG_RUNTIME_DIR: root });
}
const quiet = () => {};

/** Bytes to the socket; resolves with what came back once the agent hung up (or after 5 s). */
function raw(path: string, bytes: Buffer): Promise<{ closed: boolean; got: Buffer }> {
  return new Promise((resolve) => {
    const s = connect(path);
    const chunks: Buffer[] = [];
    const timer = setTimeout(
      () => (s.destroy(), resolve({ closed: false, got: Buffer.concat(chunks) })),
      5000,
    );
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => (clearTimeout(timer), resolve({ closed: true, got: Buffer.concat(chunks) })));
    s.write(bytes);
  });
}

async function waitUntil(check: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error('the condition did not come true in time');
}

describe('the agent process', () => {
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  test('its folder is 0700 and its socket and token 0600; status counts nothing yet', async () => {
    const paths = freshPaths();
    const agent = await Agent.start({ paths, log: quiet });
    try {
      const client = await AgentClient.connect(paths);
      const s = await client.status();
      assert.equal(s.pid, process.pid);
      assert.equal(s.connections, 0);
      assert.equal(s.clients, 1);
      assert.equal(s.idleTimeoutMs, 600_000);
      client.close();
    } finally {
      await agent.stop('test');
    }
    assert.equal(existsSync(paths.socket), false, 'the socket is removed at stop');
    assert.equal(existsSync(paths.lock), false);
  });

  test('a client without the token, or with a malformed frame, is hung up on; the others go on', async () => {
    const paths = freshPaths();
    const agent = await Agent.start({ paths, log: quiet });
    try {
      const good = await AgentClient.connect(paths);
      const wrong = await raw(
        paths.socket,
        encodeFrame({ t: 'hello', token: 'x'.repeat(64), version: PROTOCOL_VERSION }),
      );
      assert.equal(wrong.closed, true);
      assert.equal(wrong.got.length, 0, 'nothing is said to a client without the token');
      const garbage = Buffer.alloc(8);
      garbage.writeUInt32BE(0xffffffff, 0);
      assert.equal((await raw(paths.socket, garbage)).closed, true);
      // An authenticated client that then sends an unknown message is hung up on too.
      const token = agent.token;
      const bad = await raw(
        paths.socket,
        Buffer.concat([
          encodeFrame({ t: 'hello', token, version: PROTOCOL_VERSION }),
          encodeFrame({ t: 'bogus', id: 1 }),
        ]),
      );
      assert.equal(bad.closed, true);
      assert.equal((await good.status()).clients, 1, 'the good client is still served');
      good.close();
    } finally {
      await agent.stop('test');
    }
  });

  test('a folder or socket with loose modes or another owner is refused, by the client and the agent', async () => {
    const paths = freshPaths();
    const agent = await Agent.start({ paths, log: quiet });
    try {
      chmodSync(paths.socket, 0o666);
      await assert.rejects(AgentClient.connect(paths), AgentUnsafeError);
      // The agent itself checks on each connection: a client that skips the checks is hung up on.
      const r = await raw(
        paths.socket,
        encodeFrame({ t: 'hello', token: agent.token, version: PROTOCOL_VERSION }),
      );
      assert.equal(r.closed, true);
      assert.equal(r.got.length, 0);
      chmodSync(paths.socket, 0o600);
      chmodSync(paths.dir, 0o755);
      await assert.rejects(AgentClient.connect(paths), /mode 0755/);
      chmodSync(paths.dir, 0o700);
      if (process.getuid?.() === 0) {
        chownSync(paths.socket, 65534, 65534);
        await assert.rejects(AgentClient.connect(paths), /belongs to uid 65534/);
        chownSync(paths.socket, 0, 0);
      }
      (await AgentClient.connect(paths)).close();
    } finally {
      await agent.stop('test');
    }
  });

  test('a client of another protocol version is told so, and an idle agent steps aside for it', async () => {
    const paths = freshPaths();
    const agent = await Agent.start({ paths, log: quiet });
    const r = await raw(paths.socket, encodeFrame({ t: 'hello', token: agent.token, version: 999 }));
    assert.equal(r.closed, true);
    assert.match(
      r.got.subarray(8).toString(),
      new RegExp(`speaks protocol version ${PROTOCOL_VERSION}, not 999; it stops now`),
    );
    await agent.closed;
    assert.equal(existsSync(paths.socket), false);
  });

  test('a lock whose agent is gone is taken over; a live one is not', async () => {
    const paths = freshPaths();
    const agent = await Agent.start({ paths, log: quiet });
    await assert.rejects(Agent.start({ paths, log: quiet }), AgentRunningError);
    await agent.stop('test');
    writeFileSync(paths.lock, '999999999', { mode: 0o600 });
    writeFileSync(paths.socket, ''); // a leftover file where the socket goes
    const again = await Agent.start({ paths, log: quiet });
    (await AgentClient.connect(paths)).close();
    await again.stop('test');
    // A killed agent not yet reaped by its parent (a zombie) is gone too: its lock is taken over.
    const parent = spawn('python3', [
      '-c',
      'import os,sys,time\npid=os.fork()\nif pid==0: os._exit(0)\nprint(pid,flush=True)\nsys.stdin.read()',
    ]);
    const zombie = Number(
      await new Promise<string>((r) => parent.stdout.once('data', (d: Buffer) => r(String(d)))),
    );
    try {
      await waitUntil(() => readFileSync(`/proc/${zombie}/stat`, 'latin1').includes(') Z '));
      assert.equal(alive(zombie), false, 'a zombie is not alive');
      writeFileSync(paths.lock, String(zombie), { mode: 0o600 });
      const third = await Agent.start({ paths, log: quiet });
      await third.stop('test');
    } finally {
      parent.stdin.end();
    }
  });

  test('it stops by itself after its idle timeout with no client and no command', async () => {
    const paths = freshPaths();
    const agent = await Agent.start({ paths, log: quiet, idleTimeoutMs: 300 });
    const client = await AgentClient.connect(paths);
    // A client connected holds it: well past the timeout, it still answers.
    await new Promise((r) => setTimeout(r, 900));
    assert.equal((await client.status()).clients, 1);
    client.close();
    await Promise.race([
      agent.closed,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('no idle stop within 20 s')), 20_000).unref(),
      ),
    ]);
    assert.equal(existsSync(paths.socket), false);
  });

  test('targets holding a secret stay with the CLI; paths go absolute', () => {
    assert.equal(description({ host: 'a', password: 'p' }), undefined);
    assert.equal(description({ host: 'a', jump: [{ host: 'b', passphrase: 'p' }] }), undefined);
    assert.equal(description({ host: 'a', sudoPassword: 'p' }), undefined);
    assert.equal(
      description({ host: 'a', privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\n...' }),
      undefined,
    );
    assert.equal(description({ host: 'a', privateKey: Buffer.from('key') }), undefined);
    // Over the OpenSSH transport a host's ControlMaster keeps its connection, not the agent.
    assert.equal(description({ host: 'a', transport: 'openssh' }), undefined);
    assert.deepEqual(description({ host: 'a', transport: 'ssh2' }), { host: 'a', transport: 'ssh2' });
    assert.deepEqual(
      description({ host: 'a', privateKey: 'keys/id', sshConfig: '/etc/x', knownHosts: ['kh'] }),
      {
        host: 'a',
        privateKey: join(process.cwd(), 'keys/id'),
        sshConfig: '/etc/x',
        knownHosts: [join(process.cwd(), 'kh')],
      },
    );
    assert.deepEqual(description('deploy@web1:2222'), { host: 'deploy@web1:2222' });
  });
});
