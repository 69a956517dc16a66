// The agent's executor against real sshd, agent and client in this process: a large input crosses
// the socket under flow control, whole; a transfer's check runs on the client's side and a refusal
// leaves the destination as it was, rejecting with the check's own error; a killed command ends on
// its host.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { AgentClient, AgentExecutor, clientContext } from '../../src/agent/client.js';
import { Agent } from '../../src/agent/daemon.js';
import { agentPaths } from '../../src/agent/paths.js';
import { KillRequest, type ExecRequest } from '../../src/process/executor.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';

describe(
  'commands and transfers through the agent',
  { skip: !sshdAvailable() && 'OpenSSH sshd not installed' },
  () => {
    let fleet: TestFleet;
    let agent: Agent;
    let client: AgentClient;
    let root: string;
    let executor: AgentExecutor;

    before(async () => {
      fleet = await startFleet({ healthy: 1 });
      root = mkdtempSync(join(tmpdir(), 'fleetsh-agent-exec-'));
      const paths = agentPaths({ XDG_RUNTIME_DIR: root });
      agent = await Agent.start({ paths, log: () => {} });
      client = await AgentClient.connect(paths);
      executor = new AgentExecutor(
        client,
        'h01',
        { host: 'h01', sshConfig: fleet.sshConfigPath },
        clientContext(),
      );
    });
    after(async () => {
      client?.close();
      await agent?.stop('test');
      await fleet?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    const exec = async (command: string, extra: Partial<ExecRequest> = {}) => {
      const out: Buffer[] = [];
      const outcome = await executor.exec({
        command,
        signal: new AbortController().signal,
        onData: (stream, chunk) => stream === 'stdout' && out.push(chunk),
        ...extra,
      });
      return { ...outcome, stdout: Buffer.concat(out).toString() };
    };

    test('8 MiB of input, from a stream, arrive whole (the window is 1 MiB)', async () => {
      const input = randomBytes(8 * 1024 * 1024);
      const chunks = [];
      for (let at = 0; at < input.length; at += 100_000) chunks.push(input.subarray(at, at + 100_000));
      const r = await exec('sha256sum', { stdin: Readable.from(chunks) });
      assert.equal(r.exitCode, 0);
      assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(input).digest('hex'));
      const small = await exec('cat', { stdin: 'hello\n' });
      assert.equal(small.stdout, 'hello\n');
    });

    test('a kill ends the command on its host', async () => {
      const controller = new AbortController();
      const started = exec(`echo up; sleep 781.${process.pid}; echo never`, {
        signal: controller.signal,
        onData: () => controller.abort(new KillRequest('SIGTERM', 500)),
      });
      // It returns long before the sleep would end: the sleep was killed. (sshd does not signal a
      // root login's shell, which may go on to its next line: the command promise reports the kill.)
      await started;
      const left = await exec(`pgrep -f '^sleep 781.${process.pid}' || true`);
      assert.equal(left.stdout, '');
    });

    test("a transfer's check runs here; its refusal rejects with its own error and keeps the destination", async () => {
      const local = join(root, 'up.txt');
      writeFileSync(local, 'new contents\n');
      const remote = `/tmp/fleetsh-agent-up-${process.pid}.txt`;
      await exec(`printf 'old\\n' > ${remote}`);
      class Refused extends Error {}
      const refusal = new Refused('not this one');
      const seen: string[] = [];
      await assert.rejects(
        executor.transfer('upload', local, remote, {
          beforeReplace: async (written) => {
            seen.push((await exec(`cat ${written}`)).stdout);
            throw refusal;
          },
        }),
        (e) => e === refusal,
      );
      assert.deepEqual(seen, ['new contents\n'], 'the check saw the written copy');
      assert.equal((await exec(`cat ${remote}`)).stdout, 'old\n');
      await executor.transfer('upload', local, remote, { beforeReplace: async () => {} });
      assert.equal((await exec(`cat ${remote}`)).stdout, 'new contents\n');
      const back = join(root, 'down.txt');
      await executor.transfer('download', back, remote);
      assert.equal(readFileSync(back, 'utf8'), 'new contents\n');
      await exec(`rm -f ${remote}`);
    });

    test('a directory goes up whole, each file through the check', async () => {
      const tree = join(root, 'tree');
      mkdirSync(join(tree, 'sub'), { recursive: true });
      writeFileSync(join(tree, 'a.txt'), 'a\n');
      writeFileSync(join(tree, 'sub', 'b.txt'), 'b\n');
      const remote = `/tmp/fleetsh-agent-tree-${process.pid}`;
      const checked: string[] = [];
      try {
        await executor.transfer('upload-directory', tree, remote, {
          beforeReplace: async (_written, file) => void checked.push(file.rel),
        });
        assert.deepEqual(checked.sort(), ['a.txt', 'sub/b.txt']);
        assert.equal((await exec(`cat ${remote}/a.txt ${remote}/sub/b.txt`)).stdout, 'a\nb\n');
      } finally {
        await exec(`rm -rf ${remote}`);
      }
    });
  },
);

describe(
  'an agent started with persistent shells',
  { skip: !sshdAvailable() && 'OpenSSH sshd not installed' },
  () => {
    let fleet: TestFleet;
    let agent: Agent;
    let client: AgentClient;
    let root: string;
    let executor: AgentExecutor;

    before(async () => {
      fleet = await startFleet({ healthy: 1 });
      root = mkdtempSync(join(tmpdir(), 'fleetsh-agent-shell-'));
      const paths = agentPaths({ XDG_RUNTIME_DIR: root });
      agent = await Agent.start({ paths, log: () => {}, persistentShell: true });
      client = await AgentClient.connect(paths);
      executor = new AgentExecutor(
        client,
        'h01',
        { host: 'h01', sshConfig: fleet.sshConfigPath },
        clientContext(),
      );
    });
    after(async () => {
      client?.close();
      await agent?.stop('test');
      await fleet?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    const exec = async (command: string, extra: Partial<ExecRequest> = {}) => {
      const out: Buffer[] = [];
      const outcome = await executor.exec({
        command,
        signal: new AbortController().signal,
        onData: (stream, chunk) => stream === 'stdout' && out.push(chunk),
        ...extra,
      });
      return { ...outcome, stdout: Buffer.concat(out).toString() };
    };
    /** The command line of the command's parent: the driver's (fleetsh-session) or sshd's. */
    const parent = async () => (await exec(`tr '\\0' ' ' </proc/$PPID/cmdline`)).stdout;

    test('says so in its status, and runs commands on the connection’s persistent shell', async () => {
      assert.equal((await client.status()).persistentShell, true);
      assert.doesNotMatch(await parent(), /fleetsh-session/, 'the first command is an exec request');
      // The second starts the driver beside it; a later one runs on it once it answered.
      let seen = '';
      for (let i = 0; i < 100 && !/fleetsh-session/.test(seen); i++) {
        seen = await parent();
        if (!/fleetsh-session/.test(seen)) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(seen, /fleetsh-session/);
      const r = await exec('echo out; exit 3');
      assert.deepEqual([r.exitCode, r.signal, r.stdout], [3, null, 'out\n']);
    });

    test('a kill ends a command on the persistent shell, and the shell runs the next one', async () => {
      const controller = new AbortController();
      const killed = await exec(`echo up; sleep 782.${process.pid}; echo never`, {
        signal: controller.signal,
        onData: () => controller.abort(new KillRequest('SIGTERM', 500)),
      });
      assert.equal(killed.signal, 'SIGTERM');
      assert.equal((await exec(`pgrep -f '^sleep 782.${process.pid}' || true`)).stdout, '');
      assert.match(await parent(), /fleetsh-session/);
    });
  },
);
