// Running commands over SSH against real sshd hosts: results, exit codes and signals, env, cwd,
// stdin, lines, timeouts that kill the remote process, and lost connections. Every test runs three
// times: with an exec request per command, on the connection's persistent shell (shell-session.ts),
// and through the OpenSSH transport (the system ssh on a ControlMaster, src/ssh/openssh/).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { CommandError, ConnectionError, TimeoutError, UsageError } from '../../src/process/errors.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { settlesWithin } from '../harness/settle.js';
import { directOf, sshFor, targetOf, warmShells } from './helpers.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { sessionOf } from '../../src/ssh/shell-session.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

for (const path of ['exec requests', 'persistent shell', 'openssh'] as const)
  describe(`ssh exec (${path})`, { skip }, () => {
    const persistentShell = path === 'persistent shell';
    const openssh = path === 'openssh';
    const extra = openssh ? { transport: 'openssh' as const } : {};
    let fleet: TestFleet;
    let ssh: SshFunction;
    before(async () => {
      fleet = await startFleet({ healthy: 3 });
      ssh = sshFor(fleet, { persistentShell });
      if (persistentShell) await warmShells(ssh, fleet);
    });
    after(async () => {
      await ssh?.close();
      await fleet?.stop();
    });
    const host = (i = 0) => ssh(targetOf(fleet, fleet.healthy[i]!, extra));

    test('a command returns stdout, stderr, exit code, host and command', async () => {
      const r = await host()`echo out; echo err >&2; id -un`;
      // The command's parent: the session's driver, or sshd.
      const parent = Number((await host()`echo $PPID`).stdout);
      if (openssh) {
        assert.equal(ssh.pool.stats().handshakes, 0, 'no ssh2 connection was made');
        assert.equal(ssh.pool.masters.size, 1, 'one master serves the host');
      } else {
        const session = sessionOf(ssh.pool.connection(await host().resolve()));
        assert.equal(parent === session?.pid, persistentShell, 'the command ran on the path under test');
      }
      assert.equal(r.stdout, `out\n${fleet.user}\n`);
      assert.equal(r.stderr, 'err\n');
      assert.equal(r.exitCode, 0);
      assert.equal(r.signal, null);
      assert.equal(r.ok, true);
      assert.equal(r.host, fleet.healthy[0]!.name);
      assert.equal(r.command, 'echo out; echo err >&2; id -un');
      assert.ok(r.durationMs >= 0);
    });

    test('a non-zero exit rejects with the host, command, code and stderr tail; nothrow resolves', async () => {
      const s = host();
      await assert.rejects(s`echo boom >&2; exit 3`, (e: CommandError) => {
        assert.ok(e instanceof CommandError);
        assert.equal(e.kind, 'failed');
        assert.equal(e.exitCode, 3);
        assert.match(
          e.message,
          new RegExp(`^${fleet.healthy[0]!.name}: command exited with code 3: echo boom`),
        );
        assert.match(e.message, /boom/);
        return true;
      });
      const r = await s`exit 4`.nothrow();
      assert.equal(r.exitCode, 4);
      assert.equal(r.ok, false);
    });

    test('a command killed by a signal fails with signal set, never exit code 0', async () => {
      const r = await host()`kill -TERM $$`.nothrow();
      assert.equal(r.exitCode, null);
      assert.equal(r.signal, 'SIGTERM');
      await assert.rejects(
        host()`kill -KILL $$`,
        (e: CommandError) => e.signal === 'SIGKILL' && /killed by signal SIGKILL/.test(e.message),
      );
    });

    test('interpolations are quoted; a lone string value is the command line', async () => {
      const s = host();
      const file = "it's a $file; rm -rf /";
      assert.equal((await s`printf '%s\n' ${file}`).stdout, `${file}\n`);
      assert.equal((await s`printf '%s\n' ${['a b', 'c']}`).stdout, 'a b\nc\n');
      const command = 'echo one && echo two';
      assert.equal((await s`${command}`).stdout, 'one\ntwo\n');
      assert.throws(() => s`echo ${undefined}`, UsageError);
    });

    test('env, cwd, with() and per-command options', async () => {
      const s = host().env({ GREETING: "hello 'world'" }).cd('/tmp');
      const r = await s`echo "$GREETING"; pwd`;
      assert.equal(r.stdout, "hello 'world'\n/tmp\n");
      assert.equal((await host()`echo $X`.env({ X: '1' })).stdout, '1\n');
      assert.throws(() => host().env({ 'BAD NAME': 'x' }), UsageError);
      const n = host().with({ nothrow: true });
      assert.equal((await n`exit 2`).exitCode, 2);
      await assert.rejects(
        host().cd('/no/such/dir')`true`,
        (e: CommandError) => /no\/such\/dir/.test(e.stderr) || /No such file/.test(e.message),
      );
    });

    test('stdin: a string, a buffer and a stream; no stdin is end of input', async () => {
      const s = host();
      assert.equal((await s`cat`.stdin('text')).stdout, 'text');
      assert.equal((await s`wc -c`.stdin(Buffer.alloc(100_000, 1))).stdout.trim(), '100000');
      assert.equal((await s`cat`.stdin(Readable.from(['a', 'b', 'c']))).stdout, 'abc');
      assert.equal((await s`cat`).stdout, '');
    });

    test('output arrives line by line as it is printed', async () => {
      const seen: Array<[string, string, number]> = [];
      const t0 = performance.now();
      await host()`echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three`.onLine((stream, line) =>
        seen.push([stream, line, performance.now() - t0]),
      );
      assert.deepEqual(
        seen.map(([s, l]) => [s, l]),
        [
          ['stdout', 'one'],
          ['stderr', 'two'],
          ['stdout', 'three'],
        ],
      );
      assert.ok(seen[2]![2] - seen[0]![2] >= 450, 'lines are delivered as they come, not at the end');
      const lines: string[] = [];
      for await (const line of host()`printf 'a\\nb\\nc\\n'`) lines.push(line);
      assert.deepEqual(lines, ['a', 'b', 'c']);
    });

    test('output caps apply per stream', async () => {
      const r = await host()`head -c 100000 /dev/zero`.maxOutput(1000);
      assert.equal(r.stdoutBuffer.length, 1000);
      assert.equal(r.stdoutTruncated, true);
    });

    test('a command that prints a gigabyte: the result is capped, flagged, and memory stays bounded', async () => {
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
      try {
        // The persistent shell's pass prints a quarter of it: the same cap, in less of the suite's time.
        const size = persistentShell ? 268435456 : 1073741824;
        const r = await host(2)`head -c ${size} /dev/zero; echo done >&2`.timeout('120s');
        assert.equal(r.exitCode, 0);
        assert.equal(r.stdoutBuffer.length, 16 * 1024 * 1024, 'the default cap of 16 MiB');
        assert.equal(r.stdoutTruncated, true);
        assert.equal(r.stderr, 'done\n');
      } finally {
        clearInterval(sampler);
      }
      const grew = peak - before;
      assert.ok(
        grew < 256 * 1024 * 1024,
        `rss grew by ${Math.round(grew / 1048576)} MiB for 1 GiB of output`,
      );
    });

    test('a timeout kills the remote command and its children (pgrep finds nothing)', async () => {
      const s = host(1);
      const marker = `fleetsh-timeout-${process.pid}`;
      const t0 = performance.now();
      await assert.rejects(
        s`sh -c 'sleep 300; : ${marker}' & sleep 301; : ${marker}`.timeout('400ms'),
        (e: TimeoutError) => {
          assert.ok(e instanceof TimeoutError);
          assert.equal(e.kind, 'timeout');
          assert.match(e.message, /timed out after 400 ms and was killed/);
          return true;
        },
      );
      assert.ok(performance.now() - t0 < 3000, 'the timeout does not wait for the command');
      // Give the kill a moment to land (its last sweep comes after the 2 s grace), then look for
      // the processes on the host.
      let left = '';
      for (let i = 0; i < 100; i++) {
        left = (await s`pgrep -f ${'sleep 30[01]'} || true`).stdout.trim();
        if (left === '') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(left, '', 'no process of the timed-out command is left on the host');
    });

    test('a timeout ends the command even when its shell had started nothing yet', async () => {
      // The shell waits on a FIFO with a builtin (no child, so nothing carries the marker in its
      // environment) through the sweeps. The hosts are this machine, so the shell is looked for
      // here, by the FIFO's name in its command line; writing to the FIFO would end it by itself.
      const name = `wait-${process.pid}-${path.replace(/\W/g, '-')}`;
      const fifo = join(fleet.dir, `${name}.fifo`);
      execFileSync('mkfifo', [fifo]);
      const waiting = () => spawnSync('pgrep', ['-f', name], { encoding: 'utf8' }).stdout.trim();
      try {
        await assert.rejects(host(1)`read x < ${fifo}; echo "read $x"`.timeout('300ms'), TimeoutError);
        // The sweeps come at 0.2 s, at the end of the 2 s grace and 1 s after it.
        let left = waiting();
        for (let i = 0; i < 100 && left !== ''; i++) {
          await new Promise((r) => setTimeout(r, 100));
          left = waiting();
        }
        assert.equal(left, '', "the command's shell still waits on the FIFO");
      } finally {
        // A shell left waiting gets end of input and ends.
        try {
          closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
        } catch {
          // no reader: nothing waits
        }
        rmSync(fifo, { force: true });
      }
    });

    test('an env of FLEETSH_JOB (an inventory var) does not hide the command from the kill', async () => {
      const s = host(1);
      // A sleep only this test runs; the pattern does not match pgrep's own command line.
      const seconds = `302.${process.pid}`;
      await assert.rejects(s`sleep ${seconds}`.env({ FLEETSH_JOB: 'forged' }).timeout('400ms'), TimeoutError);
      let left = '';
      for (let i = 0; i < 50; i++) {
        left = (await s`pgrep -f ${`sleep 30[2].${process.pid}`} || true`).stdout.trim();
        if (left === '') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(left, '', 'no process of the timed-out command is left on the host');
    });

    test('a command that ignores SIGTERM is killed with SIGKILL after the grace period', async () => {
      const s = host(1);
      const p = s`trap '' TERM; sleep 302 & sleep 303`;
      setTimeout(() => p.kill('SIGTERM'), 300);
      const r = await p.nothrow().catch((e) => e);
      assert.ok(r.signal || r.kind === 'cancelled' || r.exitCode !== 0);
      let left = '';
      for (let i = 0; i < 40; i++) {
        left = (await s`pgrep -f ${'sleep 30[23]'} || true`).stdout.trim();
        if (left === '') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(left, '');
    });

    test('an AbortSignal cancels a running command', async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort('enough'), 200);
      await assert.rejects(
        host()`sleep 30`.cancelSignal(ac.signal),
        (e: Error & { kind: string }) => e.kind === 'cancelled',
      );
    });

    test('a malformed target rejects its commands instead of throwing from $.ssh()', async () => {
      const s = ssh('bad host name');
      await assert.rejects(
        s`true`,
        (e: UsageError) => e instanceof UsageError && /invalid SSH target/.test(e.message),
      );
      const settled = await Promise.allSettled([host()`echo ok`, ssh({ host: '' })`true`]);
      assert.equal(settled[0].status, 'fulfilled');
      assert.equal(settled[1].status, 'rejected');
    });

    test('string targets: user@address:port', async () => {
      const h = fleet.healthy[2]!;
      const s = ssh(`${fleet.user}@${h.address}:${h.port}`);
      assert.equal(s.host, `${h.address}:${h.port}`);
      // No ssh_config for this one: the key and known_hosts come from options.
      const d = ssh(directOf(fleet, h, extra));
      assert.equal((await d`echo direct`).stdout, 'direct\n');
    });

    test('a connection lost mid-command fails that command with kind closed; the next command reconnects', async () => {
      const s = host(2);
      await s`true`;
      const running = s`sleep 20`;
      const started = running.then(
        () => undefined,
        (e) => e,
      );
      await new Promise((r) => setTimeout(r, 300));
      // The client side closing stands in for the network dropping.
      if (openssh) await ssh.pool.masters.closeTarget(await s.resolve());
      else ssh.pool.connection(await s.resolve()).close();
      const err = await started;
      assert.ok(err instanceof ConnectionError, String(err));
      assert.equal(err.kind, 'closed');
      assert.match(err.message, new RegExp(`^${fleet.healthy[2]!.name}: connection lost`));
      const r = await s`echo again`;
      assert.equal(r.stdout, 'again\n');
    });

    test('a connection killed on the server side: in-flight command fails closed, next one works', async () => {
      const s = host(0);
      await s`true`;
      const mark = `m${process.pid}x${Date.now()}`;
      const beside = host(1)`sleep 1; echo beside`.then((r) => r.stdout);
      const running = s`echo started; sleep 20`.env({ MARK: mark }).then(
        () => undefined,
        (e) => e,
      );
      await new Promise((r) => setTimeout(r, 300));
      // From another pool's connection, kill -9 the sshd process serving ours (the first "sshd: "
      // ancestor of the process carrying our marker), as a crash or a cut network would.
      const other = sshFor(fleet);
      try {
        await other(
          targetOf(fleet, fleet.healthy[0]!),
        )`for f in $(grep -lzx MARK=${mark} /proc/[0-9]*/environ); do p=\${f#/proc/}; p=\${p%/environ}; while [ "$p" -gt 1 ]; do case "$(tr '\\0' ' ' < /proc/$p/cmdline)" in "sshd: "*) kill -9 $p; break;; esac; p=$(cut -d' ' -f4 /proc/$p/stat); done; done`;
      } finally {
        await other.close();
      }
      const err = await settlesWithin(running, 15_000, 'a command whose connection was killed');
      assert.ok(err instanceof ConnectionError, String(err));
      assert.equal(err.kind, 'closed');
      assert.match(err.message, new RegExp(`^${fleet.healthy[0]!.name}: connection lost`));
      assert.equal(await beside, 'beside\n', 'a command on another host is unaffected');
      assert.equal((await s`echo back`).stdout, 'back\n');
    });

    test('SSH keepalive notices a server that stopped answering: the running command fails with kind closed', async () => {
      const own = sshFor(fleet);
      // ssh counts ServerAliveInterval in whole seconds: 1 s, three times unanswered.
      const s = own(targetOf(fleet, fleet.healthy[1]!, { keepaliveInterval: '200ms', ...extra }));
      const mark = `k${process.pid}x${Date.now()}`;
      await s`true`;
      const running = s`sleep 30`.env({ MARK: mark }).then(
        () => undefined,
        (e) => e,
      );
      await new Promise((r) => setTimeout(r, 300));
      // Freeze (SIGSTOP) the sshd process serving that connection: TCP stays up, nothing answers.
      const other = sshFor(fleet);
      let frozen = '';
      try {
        frozen = (
          await other(
            targetOf(fleet, fleet.healthy[1]!),
          )`for f in $(grep -lzx MARK=${mark} /proc/[0-9]*/environ); do p=\${f#/proc/}; p=\${p%/environ}; while [ "$p" -gt 1 ]; do case "$(tr '\\0' ' ' < /proc/$p/cmdline)" in "sshd: "*) kill -STOP $p; echo $p; break;; esac; p=$(cut -d' ' -f4 /proc/$p/stat); done; done`
        ).stdout.trim();
        assert.ok(frozen, 'found the sshd process to freeze');
        const t0 = performance.now();
        const err = await running;
        assert.ok(err instanceof ConnectionError, String(err));
        assert.equal(err.kind, 'closed');
        if (openssh) assert.ok(performance.now() - t0 < 10_000);
        else {
          assert.match(err.message, /keepalive/);
          assert.ok(performance.now() - t0 < 5000);
        }
      } finally {
        for (const pid of new Set(frozen.split(/\s+/).filter(Boolean))) {
          await other(targetOf(fleet, fleet.healthy[1]!))`kill -KILL ${pid}`.nothrow();
        }
        await other.close();
        await own.close();
      }
    });
  });
