// A pseudo-terminal for a command (`.pty()`, `{ pty: true }`), against real sshd: the command sees a
// terminal of the asked type and size, its stdout and stderr arrive merged with CRLF line ends, its
// input is typed (echoed, ended with ^D), and a timeout or a kill ends it on the host (pgrep), even
// when it ignores SIGTERM and SIGHUP. A server that refuses terminals is a clear error. Every test
// runs through both transports: ssh2, and the system ssh (`-tt`) on a ControlMaster.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { $ } from '../../src/index.js';
import { raw } from '../../src/command/template.js';
import { ConnectionError, UsageError } from '../../src/process/errors.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { sshFor, targetOf } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

function pgrep(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', pattern], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return [];
  }
}

async function gone(pattern: string, withinMs: number): Promise<string[]> {
  const end = performance.now() + withinMs;
  for (;;) {
    const left = pgrep(pattern);
    if (left.length === 0 || performance.now() > end) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A sleep with an argument list of its own, for pgrep. */
const uniqueSleep = () => `30.${process.pid}${Math.floor(Math.random() * 1e9)}`;

for (const transport of ['ssh2', 'openssh'] as const)
  describe(`a pseudo-terminal (${transport})`, { skip }, () => {
    let fleet: TestFleet;
    let ssh: SshFunction;
    before(async () => {
      fleet = await startFleet({ healthy: 1 });
      ssh = sshFor(fleet);
    });
    after(async () => {
      await ssh?.close();
      await fleet?.stop();
    });
    const host = () => ssh(targetOf(fleet, fleet.healthy[0]!, { transport }));

    test('the command has a terminal (not without .pty()); stdout and stderr merge, lines end in CRLF', async () => {
      const r = await host()`tty; echo out; echo err >&2`.pty();
      assert.match(r.stdout, /^\/dev\/pts\/\d+\r\nout\r\nerr\r\n$/);
      assert.equal(r.stderr, '');
      const plain = await host()`tty; echo err >&2`.nothrow();
      assert.equal(plain.stdout, 'not a tty\n');
      assert.equal(plain.stderr, 'err\n');
    });

    test('type and size, from .pty({ term, rows, cols }) or a shell made with { pty }', async () => {
      const r = await host()`echo "$TERM"; stty size`.pty({ term: 'xterm-256color', rows: 40, cols: 132 });
      assert.equal(r.stdout, 'xterm-256color\r\n40 132\r\n');
      const d = await host().with({ pty: true })`echo "$TERM"; stty size`;
      assert.equal(d.stdout, 'xterm\r\n24 80\r\n');
      assert.throws(() => host()`true`.pty({ rows: 0 }), UsageError);
      assert.throws(() => host().with({ pty: { term: 'x y' } }), UsageError);
    });

    test('input is typed: echoed, and its end is ^D, so a reader ends; without input it ends at once', async () => {
      assert.equal((await host()`cat`.pty().stdin('line\n')).stdout, 'line\r\nline\r\n');
      // A last line without a newline: one ^D ends the line, another ends the input.
      assert.equal((await host()`cat`.pty().stdin('abc')).stdout, 'abcabc');
      assert.equal((await host()`cat; echo end`.pty().timeout('10s')).stdout, 'end\r\n');
    });

    test('a timeout kills the command on the host, even one that ignores TERM and HUP', async () => {
      for (const trap of ['', "trap '' TERM HUP; "]) {
        const seconds = uniqueSleep();
        const t0 = performance.now();
        await assert.rejects(host()`${raw(trap)}sleep ${seconds}`.pty().timeout('500ms'), {
          kind: 'timeout',
        });
        // TERM, then KILL 2 s later; measured 0.7 s and 2.7 s here.
        assert.ok(performance.now() - t0 < 6000);
        assert.deepEqual(await gone(`sleep ${seconds}`, 3000), [], `left running (trap: ${trap || 'none'})`);
      }
    });

    test('.kill() and a cancel signal end it too', async () => {
      const seconds = uniqueSleep();
      const p = host()`sleep ${seconds}`.pty().nothrow();
      const done = p.then((r) => r);
      while (pgrep(`sleep ${seconds}`).length === 0) await new Promise((r) => setTimeout(r, 50));
      p.kill();
      // The host may run the command before its exec reply reaches this process (a loaded
      // machine): then the kill is one "before it started", a cancellation, and the late
      // start is killed on the host all the same.
      const r = await done.catch((e: unknown) => e);
      if (r instanceof Error) assert.equal((r as { kind?: string }).kind, 'cancelled');
      else assert.equal((r as { ok: boolean }).ok, false);
      assert.deepEqual(await gone(`sleep ${seconds}`, 3000), []);

      const s2 = uniqueSleep();
      const ac = new AbortController();
      const c = host()`sleep ${s2}`.pty().cancelSignal(ac.signal);
      const cancelled = c.then(
        () => assert.fail('expected a cancellation'),
        (e: unknown) => e,
      );
      while (pgrep(`sleep ${s2}`).length === 0) await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      assert.equal(((await cancelled) as { kind?: string }).kind, 'cancelled');
      assert.deepEqual(await gone(`sleep ${s2}`, 3000), []);
    });

    test('a lost connection ends a command on a terminal (SIGHUP); without one, the command stays', async () => {
      for (const pty of [true, false]) {
        const own = sshFor(fleet);
        const seconds = uniqueSleep();
        let started = false;
        const p = own(targetOf(fleet, fleet.healthy[0]!, { transport }))`echo started; sleep ${seconds}`
          .pty(pty)
          .onLine(() => (started = true))
          .then(
            () => 'ended',
            (e: { kind?: string }) => e.kind,
          );
        // Output means the command runs and its channel is ours: closing now loses the connection
        // under it (closing while the exec request is unanswered would be another case).
        while (!started) await new Promise((r) => setTimeout(r, 20));
        await own.close();
        assert.equal(await p, 'closed');
        const left = await gone(`sleep ${seconds}`, pty ? 3000 : 500);
        if (pty) assert.deepEqual(left, [], 'the terminal hung up');
        else {
          // The sleep, and over the OpenSSH transport the shells around it (the end frame's).
          assert.ok(
            left.some((l) => /^\d+ sleep /.test(l)),
            'without a terminal, closing the channel leaves the command running',
          );
          for (const l of left) process.kill(Number(l.split(' ')[0]));
        }
      }
    });

    test('a server that refuses terminals (PermitTTY no): a protocol error that says so', async () => {
      await using noTty = await startFleet({ healthy: 1, extraSshdConfig: 'PermitTTY no' });
      const other = sshFor(noTty);
      try {
        const s = other(targetOf(noTty, noTty.healthy[0]!, { transport }));
        assert.equal((await s`echo fine`).stdout, 'fine\n');
        const e = await s`true`.pty().then(
          () => assert.fail('expected a refusal'),
          (err: unknown) => err,
        );
        assert.ok(e instanceof ConnectionError, String(e));
        assert.equal(e.kind, 'protocol');
        assert.equal(e.stage, 'channel');
        assert.match(e.message, /refused a pseudo-terminal/);
        assert.match(e.message, /PermitTTY/);
        // The connection is still good for commands without one.
        assert.equal((await s`echo still`).stdout, 'still\n');
      } finally {
        await other.close();
      }
    });

    if (transport === 'ssh2')
      test('a local command has no terminal: a usage error', async () => {
        await assert.rejects($`true`.pty(), UsageError);
        await assert.rejects($.with({ sudo: true })`true`, UsageError);
      });
  });
