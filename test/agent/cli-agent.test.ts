// `fleetsh run` through the agent against real OpenSSH servers: a second run reuses the first's
// connections (the hosts see the same client port), the report and exit code are those of a direct
// run, timeouts and Ctrl-C still kill the remote commands, an agent killed mid-run gives a clear
// "connection lost" and no hang (and the next run replaces its stale socket), a loose folder is
// refused for a direct connection, two CLIs at once share one agent, and the idle timeout stops it.
// Each test has a runtime folder of its own and stops its agent.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch, waitFor, type CliOptions } from '../cli/helpers.js';

/** PIDs whose command line starts with `marker` (the remote commands: the harness's sshd runs here). */
function pids(marker: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', `^${marker}`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** A signal to a process that may have ended meanwhile. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Per-host stdout of a --json report. */
function outputs(json: string): Record<string, string> {
  const report = JSON.parse(json) as { hosts: Array<{ host: string; stdout: string }> };
  return Object.fromEntries(report.hosts.map((h) => [h.host, h.stdout]));
}

/** A --json report without what depends on timing. */
function untimed(json: string): unknown {
  return JSON.parse(json, (key, value: unknown) =>
    /(Ms|At)$/.test(key) || key === 'durations' ? undefined : value,
  );
}

describe('fleetsh run through the agent', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  let runtime: string;
  let conn: string[];
  const opts = (extra: CliOptions = {}): CliOptions => ({
    ...extra,
    env: { FLEETSH_STATE_FILE: tmp.stateFile, FLEETSH_NO_AGENT: '', XDG_RUNTIME_DIR: runtime, ...extra.env },
  });
  const fault = (p: string) => fleet.hosts.find((h) => h.personality === p)!.name;
  const lockFile = () => join(runtime, 'fleetsh', 'agent.lock');
  const agentPid = () => Number(readFileSync(lockFile(), 'utf8'));
  const status = async () => {
    const r = await fleetsh(['agent', 'status', '--json'], opts());
    return JSON.parse(r.stdout) as { running: boolean; pid: number; handshakes: number; connections: number };
  };

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3, faults: ['dead-port', 'changed-key'] });
    conn = ['-F', fleet.sshConfigPath];
  });
  afterEach(async () => {
    // Stop this test's agent, by its pid if it does not answer.
    if (existsSync(lockFile())) {
      const pid = agentPid();
      await fleetsh(['agent', 'stop'], opts({ timeoutMs: 10_000 }));
      if (pid > 0 && alive(pid)) signal(pid, 'SIGKILL');
    }
    rmSync(runtime, { recursive: true, force: true });
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });
  const fresh = () => {
    runtime = mkdtempSync(join(tmpdir(), 'fleetsh-agent-xdg-'));
    chmodSync(runtime, 0o700);
  };

  test("a second run reuses the first run's connections; --no-agent makes new ones", async () => {
    fresh();
    const args = ['run', ...conn, '-w', 'h[01-03]', '--json', '--', 'echo $SSH_CONNECTION'];
    const first = await fleetsh(args, opts());
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, '', 'no note: the agent started');
    const second = await fleetsh(args, opts());
    assert.equal(second.code, 0, second.stderr);
    // SSH_CONNECTION holds the client's port: the same port is the same TCP connection.
    assert.deepEqual(outputs(second.stdout), outputs(first.stdout));
    const s = await status();
    assert.equal(s.running, true);
    assert.equal(s.handshakes, 3, 'one handshake per host over both runs');
    assert.equal(s.connections, 3);

    const direct1 = await fleetsh([...args.slice(0, 1), '--no-agent', ...args.slice(1)], opts());
    const direct2 = await fleetsh(args, opts({ env: { FLEETSH_NO_AGENT: '1' } }));
    assert.equal(direct1.code, 0, direct1.stderr);
    for (const [host, line] of Object.entries(outputs(direct2.stdout))) {
      assert.notEqual(line, outputs(direct1.stdout)[host], `${host}: a new connection each direct run`);
      assert.notEqual(line, outputs(first.stdout)[host], `${host}: not the agent's connection`);
    }
    assert.equal((await status()).handshakes, 3, 'direct runs did not go through the agent');
  });

  test('the report and the exit code are those of a direct run: ok, failed, timed out, unreachable', async () => {
    fresh();
    const script =
      `case " $SSH_CONNECTION " in *" ${fleet.host('h02').address} "*) echo broken >&2; exit 3;; ` +
      `*" ${fleet.host('h03').address} "*) sleep 30;; esac; echo fine`;
    const args = [
      'run',
      ...conn,
      '-w',
      `h[01-03],${fault('dead-port')},${fault('changed-key')}`,
      '-t',
      '2s',
      '--json',
      '--',
      script,
    ];
    const direct = await fleetsh(args, opts({ env: { FLEETSH_NO_AGENT: '1' } }));
    const cold = await fleetsh(args, opts());
    const warm = await fleetsh(args, opts());
    assert.equal(direct.code, 2, direct.stderr);
    for (const r of [cold, warm]) {
      assert.equal(r.code, direct.code, r.stderr);
      assert.deepEqual(untimed(r.stdout), untimed(direct.stdout));
    }
    const statuses = (JSON.parse(warm.stdout) as { hosts: Array<{ status: string }> }).hosts.map(
      (h) => h.status,
    );
    assert.deepEqual(statuses.sort(), ['failed', 'ok', 'timeout', 'unreachable', 'unreachable']);
    assert.match(warm.stdout, /connection refused/);
    assert.match(
      warm.stdout,
      /HOST KEY HAS CHANGED/,
      "the host key is checked in the agent, with the CLI's policy",
    );
    // Each event without its time and its progress (the share of hosts done: it depends on the
    // order the hosts end in, as their order in the stream does).
    const events = (r: { stdout: string }) =>
      r.stdout
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l, (k, v: unknown) => (k === 'time' || k === 'progress' ? undefined : v)) as unknown,
        )
        .map((e) => untimed(JSON.stringify(e)));
    const ndArgs = args.map((a) => (a === '--json' ? '--ndjson' : a));
    const directEvents = await fleetsh(ndArgs, opts({ env: { FLEETSH_NO_AGENT: '1' } }));
    const warmEvents = await fleetsh(ndArgs, opts());
    const byHost = (list: unknown[]) => list.map((e) => JSON.stringify(e)).sort();
    // The same events (hosts run at once, so their order may differ).
    assert.deepEqual(byHost(events(warmEvents)), byHost(events(directEvents)));
    const text = (r: { stdout: string }) => r.stdout.replace(/\d+(\.\d+)? m?s\b/g, 'T'); // durations, whichever unit they take
    const textArgs = args.filter((a) => a !== '--json');
    const directText = await fleetsh(textArgs, opts({ env: { FLEETSH_NO_AGENT: '1' } }));
    const warmText = await fleetsh(textArgs, opts());
    assert.equal(text(warmText), text(directText));
  });

  test('another ssh_config file or known_hosts file gets connections of its own; input reaches the commands', async () => {
    fresh();
    const other = join(tmp.dir, 'ssh_config.copy');
    writeFileSync(other, readFileSync(fleet.sshConfigPath));
    const kh = join(tmp.dir, 'known_hosts.copy');
    writeFileSync(kh, readFileSync(fleet.knownHostsPath));
    const ports = async (extra: string[]) => {
      const r = await fleetsh(['run', ...extra, '-w', 'h01', '--json', '--', 'echo $SSH_CONNECTION'], opts());
      assert.equal(r.code, 0, r.stderr);
      return outputs(r.stdout).h01!;
    };
    const a = await ports(['-F', fleet.sshConfigPath]);
    const b = await ports(['-F', other]);
    const c = await ports(['-F', fleet.sshConfigPath, '--known-hosts', kh]);
    assert.equal(new Set([a, b, c]).size, 3, 'three settings, three connections');
    assert.equal(await ports(['-F', other]), b, 'the same settings again: the same connection');
    const input = await fleetsh(
      ['run', ...conn, '-w', 'h[01-02]', '--json', '--', 'wc -c'],
      opts({ input: 'x'.repeat(100_000) }),
    );
    assert.deepEqual(
      Object.values(outputs(input.stdout)).map((o) => o.trim()),
      ['100000', '100000'],
    );
  });

  test('script and rolling go through the agent too, on the same connections', async () => {
    fresh();
    const first = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--', 'true'], opts());
    assert.equal(first.code, 0, first.stderr);
    const script = join(tmp.dir, 'check.sh');
    writeFileSync(script, '#!/bin/sh\necho "script $1"\n');
    const s = await fleetsh(['script', ...conn, '-w', 'h[01-02]', '--gather', script, 'arg'], opts());
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^script arg$/m);
    const r = await fleetsh(
      ['rolling', ...conn, '-w', 'h[01-02]', '--batches', '1', '--health', 'true', '--', 'echo deployed'],
      opts(),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await status()).handshakes, 2, 'no new handshake for script and rolling');
  });

  test('a timeout and Ctrl-C kill the remote commands through the agent', async () => {
    fresh();
    const slept = `sleep 771.${process.pid}`;
    const t = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '-t', '1s', '--', slept], opts());
    assert.equal(t.code, 1, t.stderr);
    assert.match(t.stdout, /timed out after 1 s/);
    await waitFor(() => pids(slept).length === 0, 10_000, 'the timed-out sleeps to be gone');

    const marker = `sleep 772.${process.pid}`;
    let sent = false;
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-03]', '--', `echo started; ${marker}`], {
      ...opts(),
      timeoutMs: 60_000,
      onSpawn: (child) => {
        void waitFor(() => pids(marker).length >= 3, 30_000, 'three remote sleeps').then(() => {
          sent = child.kill('SIGINT');
        });
      },
    });
    assert.ok(sent, 'SIGINT was sent');
    assert.equal(r.code, 130, r.stderr);
    await waitFor(() => pids(marker).length === 0, 10_000, 'the remote sleeps to be gone');
    assert.equal((await status()).running, true, 'the agent outlives its client');
  });

  test('an agent killed mid-run: its hosts report a lost connection at once; the next run starts a new agent', async () => {
    fresh();
    const marker = `sleep 773.${process.pid}`;
    let killed = 0;
    const started = Date.now();
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--', `echo started; ${marker}`], {
      ...opts(),
      timeoutMs: 60_000,
      onSpawn: () => {
        void waitFor(() => pids(marker).length >= 2, 30_000, 'two remote sleeps').then(() => {
          killed = agentPid();
          process.kill(killed, 'SIGKILL');
        });
      },
    });
    assert.ok(killed > 0, 'the agent was killed');
    assert.ok(Date.now() - started < 45_000, 'no hang after the agent died');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /connection lost: the fleetsh agent went away/);
    assert.match(r.stdout, /^unreachable \(closed\): h\[01-02\] \(2\)$/m);
    // The remote sleeps of the lost connections: killed here (sshd leaves them without a terminal).
    for (const pid of pids(marker)) signal(pid, 'SIGKILL');

    assert.equal(existsSync(join(runtime, 'fleetsh', 'agent.sock')), true, 'the dead agent left its socket');
    const next = await fleetsh(['run', ...conn, '-w', 'h01', '--', 'echo again'], opts());
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.stderr, '', 'the stale socket was replaced without a note');
    assert.notEqual(agentPid(), killed);
  });

  test('an agent that stops answering: a timeout still ends the run, bounded', async () => {
    fresh();
    const marker = `sleep 774.${process.pid}`;
    let stopped = 0;
    const started = Date.now();
    try {
      const r = await fleetsh(['run', ...conn, '-w', 'h01', '-t', '2s', '--', marker], {
        ...opts(),
        timeoutMs: 60_000,
        onSpawn: () => {
          void waitFor(() => pids(marker).length >= 1, 30_000, 'the remote sleep').then(() => {
            stopped = agentPid();
            process.kill(stopped, 'SIGSTOP');
          });
        },
      });
      assert.ok(stopped > 0, 'the agent was stopped');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /timed out after 2 s/);
      assert.ok(Date.now() - started < 45_000, 'the run ended within the grace period and the bound');
    } finally {
      if (stopped) signal(stopped, 'SIGCONT');
      for (const pid of pids(marker)) signal(pid, 'SIGKILL');
    }
  });

  test('a runtime folder others could use is refused: the run connects directly and says why', async () => {
    fresh();
    const first = await fleetsh(['agent', 'start'], opts());
    assert.equal(first.code, 0, first.stderr);
    chmodSync(join(runtime, 'fleetsh'), 0o755);
    const r = await fleetsh(['run', ...conn, '-w', 'h01', '--', 'echo hi'], opts());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^fleetsh: connecting directly: the agent is not available \(.*mode 0755.*\)$/m);
    const refused = await fleetsh(['agent', 'status'], opts());
    assert.equal(refused.code, 1, 'status refuses the folder too');
    assert.match(refused.stderr, /^fleetsh: agent: .*fleetsh has mode 0755: others could use it/m);
    chmodSync(join(runtime, 'fleetsh'), 0o700);
    assert.equal((await status()).handshakes, 0, 'nothing went through the agent');
  });

  test('two CLIs at once start one agent and share its connections', async () => {
    fresh();
    const args = ['run', ...conn, '-w', 'h[01-03]', '--json', '--', 'echo $SSH_CONNECTION'];
    const [a, b] = await Promise.all([fleetsh(args, opts()), fleetsh(args, opts())]);
    for (const r of [a, b]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
    }
    assert.deepEqual(outputs(a.stdout), outputs(b.stdout));
    assert.equal((await status()).handshakes, 3);
  });

  test('copy goes through the agent: each file checked on its host, the connections reused', async () => {
    fresh();
    const payload = join(tmp.dir, 'payload.bin');
    writeFileSync(payload, randomBytes(300_000));
    const sum = createHash('sha256').update(readFileSync(payload)).digest('hex');
    const dest = `/tmp/fleetsh-agent-copy-${process.pid}/payload.bin`;
    try {
      const copy = ['copy', ...conn, '-w', 'h[01-03]', '--json', payload, dest];
      const direct = await fleetsh(copy, opts({ env: { FLEETSH_NO_AGENT: '1' } }));
      assert.equal(direct.code, 0, direct.stderr);
      for (let i = 0; i < 2; i++) {
        const r = await fleetsh(copy, opts());
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        assert.deepEqual(untimed(r.stdout), untimed(direct.stdout), 'the report of a direct copy');
      }
      const check = await fleetsh(
        ['run', ...conn, '-w', 'h[01-03]', '--json', '--', `sha256sum ${dest}`],
        opts(),
      );
      for (const out of Object.values(outputs(check.stdout))) assert.equal(out.split(' ')[0], sum);
      assert.equal((await status()).handshakes, 3, 'both copies and the check on the same connections');
    } finally {
      await fleetsh(
        ['run', ...conn, '-w', 'h[01-03]', '--', `rm -rf /tmp/fleetsh-agent-copy-${process.pid}`],
        opts(),
      );
    }
  });

  test('pull goes through the agent: a directory, each file checked, a link out of the tree refused as directly', async () => {
    fresh();
    const remote = `/tmp/fleetsh-agent-pull-${process.pid}`;
    const setup = `mkdir -p ${remote}/d/sub && echo a > ${remote}/d/a.txt && echo b > ${remote}/d/sub/b.txt && ln -sf /etc/hostname ${remote}/d/out`;
    const local = join(tmp.dir, 'pulled');
    try {
      const made = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--', setup], opts());
      assert.equal(made.code, 0, made.stderr);
      const pull = (env: Record<string, string>) => {
        rmSync(local, { recursive: true, force: true });
        return fleetsh(['pull', ...conn, '-w', 'h[01-02]', '--json', `${remote}/d`, local], opts({ env }));
      };
      const direct = await pull({ FLEETSH_NO_AGENT: '1' });
      const through = await pull({});
      assert.equal(through.code, direct.code, through.stderr);
      assert.deepEqual(untimed(through.stdout), untimed(direct.stdout));
      assert.match(through.stdout, /refused: a symbolic link out of the tree/);
      assert.equal(readFileSync(join(local, 'h01', 'd', 'sub', 'b.txt'), 'utf8'), 'b\n');
      assert.equal(existsSync(join(local, 'h02', 'd', 'out')), false);
      assert.equal((await status()).handshakes, 2, 'the pull used the connections of the run before it');
    } finally {
      await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--', `rm -rf ${remote}`], opts());
    }
  });

  test('start, status and the idle timeout', async () => {
    fresh();
    const start = await fleetsh(['agent', 'start', '--idle-timeout', '2s'], opts());
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /^fleetsh agent running: pid \d+, socket .*agent\.sock$/m);
    const text = await fleetsh(['agent', 'status'], opts());
    assert.match(text.stdout, /^idle timeout: 2\.0s$/m);
    const pid = agentPid();
    await waitFor(() => !alive(pid), 30_000, 'the idle agent to stop');
    const after = await fleetsh(['agent', 'status'], opts());
    assert.equal(after.code, 1);
    assert.match(after.stdout, /not running/);
    assert.equal(existsSync(join(runtime, 'fleetsh', 'agent.sock')), false);
  });
});
