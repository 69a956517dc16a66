// ssh_config keywords through the CLI, against real sshd: a keyword the ssh2 transport does not
// honour is one warning for a whole run (not one per host), naming the file and line, directly and
// through the fleetsh agent; a keyword that changes nothing is quiet; and -A forwards the operator's
// ssh-agent (ssh-add -l on the hosts).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

const execFileP = promisify(execFile);
const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

/** A runtime folder of its own for the fleetsh agent, so that a run goes through a fresh one. */
function agentRuntime(): string {
  const runtime = mkdtempSync(join(tmpdir(), 'fleetsh-keywords-xdg-'));
  chmodSync(runtime, 0o700);
  return runtime;
}

/** Stops the fleetsh agent of a runtime folder (by its pid if it does not answer) and removes the folder. */
async function stopAgent(runtime: string, env: Record<string, string>): Promise<void> {
  const lock = join(runtime, 'fleetsh', 'agent.lock');
  const pid = existsSync(lock) ? Number(readFileSync(lock, 'utf8')) : 0;
  await fleetsh(['agent', 'stop'], { env, timeoutMs: 10_000 });
  if (pid > 0) {
    try {
      process.kill(pid, 0);
      process.kill(pid, 'SIGKILL');
    } catch {
      // stopped
    }
  }
  rmSync(runtime, { recursive: true, force: true });
}

describe('fleetsh and ssh_config keywords', { skip }, () => {
  let fleet: TestFleet;
  let config: string;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  // A real ssh-agent holding one key, for -A; killed by its pid after.
  let sshAgent: ChildProcess | undefined;
  let socket: string;
  let fingerprint: string;

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 5 });
    config = join(fleet.dir, 'keywords.config');
    writeFileSync(
      config,
      [
        `Include ${fleet.sshConfigPath}`,
        'Host h*',
        '  LogLevel QUIET',
        '  AddKeysToAgent yes',
        '  ControlMaster auto',
        '  ControlPath /tmp/cm-%C',
        '  ForwardX11 no',
        '  LocalForward 8080 localhost:80',
        '',
      ].join('\n'),
    );
    socket = join(fleet.dir, 'cli-agent.sock');
    sshAgent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    const agentEnv = { ...process.env, SSH_AUTH_SOCK: socket };
    for (let i = 0; ; i++) {
      try {
        await execFileP('ssh-add', ['-l'], { env: agentEnv });
        break;
      } catch (e) {
        if ((e as { code?: number }).code === 1) break; // it answers, and holds no key yet
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await execFileP('ssh-add', [join(fleet.dir, 'other_ed25519')], { env: agentEnv });
    fingerprint = (await execFileP('ssh-add', ['-l'], { env: agentEnv })).stdout.split(' ')[1]!;
  });
  after(async () => {
    if (sshAgent?.pid !== undefined && sshAgent.exitCode === null) sshAgent.kill('SIGTERM');
    await fleet?.stop();
    tmp.cleanup();
  });

  test('an unhonoured keyword warns once for a 5-host run, with file:line; quiet keywords do not', async () => {
    const r = await fleetsh(['run', '-F', config, '-w', 'h[01-05]', '--', 'echo ok'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/^h0\d: +ok$/gm)?.length, 5);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('fleetsh: warning: '));
    assert.deepEqual(
      warnings.map((w) => w.replace(/: not honoured.*/, '')),
      [
        `fleetsh: warning: ssh_config ${config}:5: ControlMaster auto`,
        `fleetsh: warning: ssh_config ${config}:6: ControlPath /tmp/cm-%C`,
        `fleetsh: warning: ssh_config ${config}:8: LocalForward 8080 localhost:80`,
      ],
      r.stderr,
    );
    assert.match(
      warnings[0]!,
      /--transport openssh \(transport: openssh in the inventory\) would honour it$/,
    );
    assert.doesNotMatch(r.stderr, /LogLevel|AddKeysToAgent|ForwardX11/);
  });

  test('over the OpenSSH transport, which honours them, neither a run nor a dry run warns', async () => {
    for (const extra of [[], ['--dry-run']]) {
      const r = await fleetsh(
        ['run', '--transport', 'openssh', ...extra, '-F', config, '-w', 'h[01-02]', '--', 'echo ok'],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      if (!extra.length) assert.equal(r.stdout.match(/^h0\d: +ok$/gm)?.length, 2, r.stdout);
      assert.doesNotMatch(r.stderr, /warning/, r.stderr);
    }
  });

  test('through the fleetsh agent, each run is warned once too; SendEnv beyond LANG and LC_* is warned about', async () => {
    const runtime = agentRuntime();
    const agentEnv = { ...env, FLEETSH_NO_AGENT: '', XDG_RUNTIME_DIR: runtime };
    try {
      const agentConfig = join(fleet.dir, 'agent-keywords.config');
      writeFileSync(agentConfig, `${readFileSync(config, 'utf8')}  SendEnv LANG MY_*\n`);
      for (let i = 0; i < 2; i++) {
        const r = await fleetsh(['run', '-F', agentConfig, '-w', 'h[01-05]', '--', 'echo ok'], {
          env: agentEnv,
        });
        assert.equal(r.code, 0, r.stderr);
        assert.ok(existsSync(join(runtime, 'fleetsh', 'agent.lock')), 'the run went through the agent');
        const warnings = r.stderr.split('\n').filter((l) => l.startsWith('fleetsh: warning: '));
        assert.deepEqual(
          warnings.map((w) => w.replace(/^fleetsh: warning: ssh_config [^:]+:(\d+): (\w+).*$/, '$2:$1')),
          ['ControlMaster:5', 'ControlPath:6', 'LocalForward:8', 'SendEnv:9'],
          r.stderr,
        );
        assert.match(warnings[3]!, /SendEnv MY_\*: .*only LANG and LC_\* are sent/);
      }
    } finally {
      await stopAgent(runtime, agentEnv);
    }
  });

  test('-A forwards the ssh-agent of SSH_AUTH_SOCK, directly and through the fleetsh agent; without it, none', async () => {
    const agentEnv = { ...env, SSH_AUTH_SOCK: socket };
    const args = ['-F', fleet.sshConfigPath, '-w', 'h[01-02]', '--', 'ssh-add -l'];
    const r = await fleetsh(['run', '-A', ...args], { env: agentEnv });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(fingerprint).length - 1, 2, r.stdout);
    const without = await fleetsh(['run', ...args], { env: agentEnv });
    assert.equal(without.code, 1, without.stderr);
    assert.ok(!without.stdout.includes(fingerprint));
    const help = await fleetsh(['script', '--help']);
    assert.match(help.stdout, /-A, --forward-agent/);

    const runtime = agentRuntime();
    const viaAgent = { ...agentEnv, FLEETSH_NO_AGENT: '', XDG_RUNTIME_DIR: runtime };
    try {
      const a = await fleetsh(['run', '-A', ...args], { env: viaAgent });
      assert.equal(a.code, 0, a.stderr);
      assert.ok(existsSync(join(runtime, 'fleetsh', 'agent.lock')), 'the run went through the agent');
      assert.equal(a.stdout.split(fingerprint).length - 1, 2, a.stdout);
      const plain = await fleetsh(['run', ...args], { env: viaAgent });
      assert.equal(plain.code, 1, plain.stderr);
    } finally {
      await stopAgent(runtime, viaAgent);
    }
  });

  test("the inventory's forwardAgent: true forwards SSH_AUTH_SOCK's agent to its hosts only; a socket path forwards that agent", async () => {
    const inventory = join(fleet.dir, 'forward-agent.yml');
    writeFileSync(inventory, 'groups:\n  ops: { hosts: h01, forwardAgent: true }\n  rest: { hosts: h02 }\n');
    const args = ['-i', inventory, '-F', fleet.sshConfigPath, '-w', '@ops,@rest', '--', 'ssh-add -l'];
    const r = await fleetsh(['run', '--json', ...args], { env: { ...env, SSH_AUTH_SOCK: socket } });
    const hosts = (JSON.parse(r.stdout) as { hosts: Array<{ host: string; status: string; stdout: string }> })
      .hosts;
    const by = (h: string) => hosts.find((x) => x.host === h)!;
    assert.equal(by('h01').status, 'ok', r.stderr);
    assert.ok(by('h01').stdout.includes(fingerprint), by('h01').stdout);
    assert.equal(by('h02').status, 'failed', 'no agent forwarded to the host outside the group');
    // A path: that socket is forwarded, with no SSH_AUTH_SOCK at all.
    writeFileSync(inventory, `defaults: { forwardAgent: ${socket} }\n`);
    const p = await fleetsh(['run', ...args.slice(0, 4), '-w', 'h02', '--', 'ssh-add -l'], {
      env: { ...env, SSH_AUTH_SOCK: '' },
    });
    assert.equal(p.code, 0, p.stderr);
    assert.ok(p.stdout.includes(fingerprint), p.stdout);
  });
});
