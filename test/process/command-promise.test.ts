import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { $, CancelledError, CommandError, CommandResult, TimeoutError, UsageError } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'fleetsh-promise-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

describe('the command promise', () => {
  it('starts only when awaited', async () => {
    const marker = join(dir, 'lazy');
    const p = $`touch ${marker}`;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(existsSync(marker), false, 'nothing ran before await');
    await p;
    assert.equal(existsSync(marker), true);
  });

  it('runs once however often it is awaited', async () => {
    const file = join(dir, 'count');
    const p = $`echo x >> ${file}`;
    await p;
    await p;
    await Promise.all([p, p]);
    assert.equal(readFileSync(file, 'utf8'), 'x\n');
  });

  it('resolves a result with every field', async () => {
    const r = await $`echo out; echo err >&2`;
    assert.ok(r instanceof CommandResult);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.exitCode, 0);
    assert.equal(r.signal, null);
    assert.equal(r.ok, true);
    assert.equal(r.host, 'local');
    assert.equal(r.command, 'echo out; echo err >&2');
    assert.equal(typeof r.durationMs, 'number');
    assert.equal(r.stdoutTruncated, false);
    assert.equal(r.stderrTruncated, false);
  });

  it('rejects on a non-zero exit with host, command, code and stderr tail; nothrow resolves', async () => {
    await assert.rejects($`echo first >&2; echo 'disk full' >&2; exit 7`, (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.kind, 'failed');
      assert.equal(e.exitCode, 7);
      assert.match(e.message, /^local: command exited with code 7: echo first/);
      assert.match(e.message, /disk full/);
      return true;
    });
    const r = await $`exit 7`.nothrow();
    assert.equal(r.exitCode, 7);
    assert.equal(r.ok, false);
  });

  it('reports a command killed by a signal as a failure with signal set', async () => {
    await assert.rejects($`kill -KILL $$`, (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.signal, 'SIGKILL');
      assert.notEqual(e.exitCode, 0);
      assert.match(e.message, /killed by signal SIGKILL/);
      return true;
    });
  });

  it('kills the whole process tree on timeout, even with nothrow', async () => {
    const pidFile = join(dir, 'pids');
    const started = Date.now();
    await assert.rejects(
      $`sleep 30 & echo $! > ${pidFile}; sleep 30`.timeout('300ms').nothrow(),
      (e: unknown) => {
        assert.ok(e instanceof TimeoutError);
        assert.equal(e.kind, 'timeout');
        assert.equal(e.timeoutMs, 300);
        assert.match(e.message, /timed out after 300 ms/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 5000);
    const child = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(await waitFor(() => !alive(child)), `background child ${child} is gone`);
  });

  it('escalates to SIGKILL when the command ignores SIGTERM', async () => {
    const started = Date.now();
    await assert.rejects($`trap '' TERM; sleep 30`.timeout(200), TimeoutError);
    const took = Date.now() - started;
    assert.ok(took >= 2000 && took < 6000, `took ${took} ms`);
  });

  it('cancels through an AbortSignal', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('operator pressed Ctrl-C')), 200);
    await assert.rejects($`sleep 30`.cancelSignal(ac.signal), (e: unknown) => {
      assert.ok(e instanceof CancelledError);
      assert.equal(e.kind, 'cancelled');
      assert.match(e.message, /Ctrl-C/);
      return true;
    });
    const pre = new AbortController();
    pre.abort();
    const marker = join(dir, 'never');
    await assert.rejects($`touch ${marker}`.cancelSignal(pre.signal), CancelledError);
    assert.equal(existsSync(marker), false);
  });

  it('kill() ends the command with the signal', async () => {
    const p = $`sleep 30`.nothrow();
    setTimeout(() => p.kill('SIGINT'), 200);
    const r = await p;
    assert.equal(r.signal, 'SIGINT');
    assert.equal(r.ok, false);
  });

  it('streams lines before the command ends', async () => {
    const seen: Array<[string, number]> = [];
    const started = Date.now();
    for await (const line of $`echo one; sleep 0.5; echo two; sleep 0.5; echo three`.lines()) {
      seen.push([line, Date.now() - started]);
    }
    assert.deepEqual(
      seen.map(([l]) => l),
      ['one', 'two', 'three'],
    );
    assert.ok(seen[0]![1] < 400, `first line after ${seen[0]![1]} ms, before the command ended`);
  });

  it('throws from lines() at the end when the command failed', async () => {
    const got: string[] = [];
    await assert.rejects(async () => {
      for await (const line of $`echo a; exit 3`) got.push(line);
    }, CommandError);
    assert.deepEqual(got, ['a']);
  });

  it('kills the command when the consumer stops reading lines early', async () => {
    const pidFile = join(dir, 'early');
    for await (const line of $`echo $$ > ${pidFile}; while true; do echo tick; sleep 0.05; done`) {
      assert.equal(line, 'tick');
      break;
    }
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(await waitFor(() => !alive(pid)));
  });

  it('delivers output line by line with the stream to onLine listeners', async () => {
    const lines: string[] = [];
    await $`echo a; echo b >&2; printf 'no newline'`.onLine((s, l) => lines.push(`${s}:${l}`));
    assert.deepEqual(lines.sort(), ['stderr:b', 'stdout:a', 'stdout:no newline']);
  });

  it('truncates output past the cap, sets the flag, and keeps memory bounded', async () => {
    const r = await $`head -c 1000000 /dev/zero`.maxOutput(1000);
    assert.equal(r.stdoutBuffer.length, 1000);
    assert.equal(r.stdoutTruncated, true);
    assert.equal(r.truncated, true);

    // 512 MiB through a 1 MiB cap: memory must not grow by anything near that.
    const before = process.memoryUsage().rss;
    const big = await $`head -c 536870912 /dev/zero`.maxOutput(1024 * 1024);
    const grew = process.memoryUsage().rss - before;
    assert.equal(big.stdoutBuffer.length, 1024 * 1024);
    assert.equal(big.stdoutTruncated, true);
    assert.ok(grew < 128 * 1024 * 1024, `rss grew by ${grew} bytes`);
  });

  it('keeps binary output byte for byte', async () => {
    const r = await $`printf '\\000\\001\\377\\376'`;
    assert.deepEqual([...r.stdoutBuffer], [0, 1, 255, 254]);
  });

  it('feeds stdin from a string, a Buffer or a stream', async () => {
    assert.equal((await $`cat`.stdin('hello')).stdout, 'hello');
    assert.deepEqual([...(await $`cat`.stdin(Buffer.from([0, 255]))).stdoutBuffer], [0, 255]);
    assert.equal((await $`wc -l`.stdin(Readable.from(['a\n', 'b\n', 'c\n']))).stdout.trim(), '3');
    // No stdin given: the command reads end of file at once instead of hanging.
    assert.equal((await $`cat`.timeout('5s')).stdout, '');
  });

  it('sets environment variables and the working directory, and validates names', async () => {
    assert.equal((await $`echo $GREETING`.env({ GREETING: 'hi there' })).stdout, 'hi there\n');
    assert.equal((await $`pwd`.cwd(dir)).stdout.trim(), dir);
    assert.throws(() => $`true`.env({ 'BAD-NAME': 'x' }), /invalid environment variable name "BAD-NAME"/);
    await assert.rejects($`true`.cwd('/no/such/dir'), /working directory \/no\/such\/dir does not exist/);
  });

  it('returns text and parsed JSON', async () => {
    assert.equal(await $`echo hi`.text(), 'hi\n');
    assert.deepEqual(await $`echo '{"a":[1,2]}'`.json(), { a: [1, 2] });
    await assert.rejects($`echo nope`.json(), /is not JSON/);
  });

  it("verbose mode prints the host's lines with control characters escaped; the result keeps the bytes", async () => {
    const printed: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => (printed.push(String(chunk)), true)) as typeof write;
    let r;
    try {
      r = await $`printf 'a\\033]0;PWNED\\007\\rb\\n' >&2`.verbose();
    } finally {
      process.stderr.write = write;
    }
    assert.equal(r.stderr, 'a\x1b]0;PWNED\x07\rb\n');
    const text = printed.join('');
    assert.match(text, /\(stderr\): a\\x1b\]0;PWNED\\x07\\rb\n$/);
    assert.doesNotMatch(text, /[\x1b\x07\r]/);
  });

  it('refuses to change a command that has started', async () => {
    const p = $`true`;
    await p;
    assert.throws(() => p.timeout(10), UsageError);
  });
});

describe('shells derived with with(), env() and cd()', () => {
  it('carries defaults to every command', async () => {
    const sh = $.with({ nothrow: true }).env({ A: '1' }).cd(dir);
    const r = await sh`echo $A; pwd; exit 4`;
    assert.equal(r.stdout, `1\n${dir}\n`);
    assert.equal(r.exitCode, 4);
    // The parent shell is unchanged.
    await assert.rejects($`exit 4`, CommandError);
  });

  it('applies a default timeout', async () => {
    await assert.rejects($.with({ timeout: '200ms' })`sleep 5`, TimeoutError);
  });
});
