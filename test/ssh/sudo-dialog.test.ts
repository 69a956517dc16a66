// The conversation with sudo, byte by byte, without a host: what sudo prints is fed to the dialog
// split at every possible point, and the dialog must answer the first prompt with the password (and
// nothing else), give end of input to a second one, take prompts, the line sudo ends after a
// password on a terminal, and the start marker out of the output, pass on everything else, and hold
// the command's input back until the marker came. The real sudo is in sudo.test.ts.
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { SudoError } from '../../src/process/errors.js';
import type { ExecRequest } from '../../src/process/executor.js';
import { CommandResult } from '../../src/process/result.js';
import { SudoDialog } from '../../src/ssh/sudo.js';

/** The prompt and marker of a dialog, read from the command line it builds. */
function tokens(d: SudoDialog): { prompt: string; marker: string; line: string } {
  const line = d.command('export FLEETSH_JOB=j1', 'echo inner');
  const marker = /\[fleetsh:[0-9a-f]+:start\]/.exec(line)![0];
  return { prompt: marker.replace(':start]', ':password]'), marker, line };
}

interface Run {
  out: { stdout: string; stderr: string };
  sent: () => string;
  ended: () => boolean;
  feed(stream: 'stdout' | 'stderr', text: string): void;
}

function wire(d: SudoDialog, stdin?: ExecRequest['stdin']): Run {
  const out = { stdout: '', stderr: '' };
  const req = d.wire({
    command: 'x',
    signal: new AbortController().signal,
    stdin,
    onData: (stream, chunk) => (out[stream] += chunk.toString('latin1')),
  });
  let sent = '';
  let ended = false;
  const input = req.stdin as Readable;
  input.on('data', (c: Buffer) => (sent += c.toString('latin1')));
  input.on('end', () => (ended = true));
  return {
    out,
    sent: () => sent,
    ended: () => ended,
    feed: (stream, text) => req.onData(stream, Buffer.from(text, 'latin1')),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Feeds `text` in pieces cut at `cuts`. */
function feedCut(run: Run, stream: 'stdout' | 'stderr', text: string, cuts: number[]): void {
  let at = 0;
  for (const c of [...cuts, text.length]) {
    if (c > at) run.feed(stream, text.slice(at, c));
    at = Math.max(at, c);
  }
}

describe('the sudo dialog', () => {
  test('the command line: -S and the prompt with a password, -n without, -u, and the marker first under sudo', () => {
    const withPw = new SudoDialog({ password: 'pw', user: 'postgres', pty: false });
    const { line, prompt, marker } = tokens(withPw);
    assert.ok(line.startsWith('export FLEETSH_JOB=j1\nexec sudo -S -p '), line);
    assert.ok(line.includes(`'${prompt}'`) && line.includes('-u postgres -- /bin/sh -c'), line);
    assert.ok(line.endsWith(`/bin/sh -c 'printf '\\''%s'\\'' '\\''${marker}'\\'' >&2; echo inner'`), line);
    assert.ok(!line.includes('pw '), 'the password is not on the command line');
    const onPty = tokens(new SudoDialog({ password: 'pw', user: undefined, pty: true })).line;
    assert.match(onPty, /exec sudo -p '\[fleetsh:[0-9a-f]+:password\]' -- /);
    const none = tokens(new SudoDialog({ password: undefined, user: undefined, pty: false })).line;
    assert.match(none, /exec sudo -n -- /);
    // A fresh token per dialog: one command's marker cannot end another's dialog.
    assert.notEqual(tokens(new SudoDialog({ password: 'pw', user: undefined, pty: false })).marker, marker);
  });

  test('split at every point: the prompt is answered once, prompts and the marker are taken out, the rest passes', async () => {
    const probe = new SudoDialog({ password: 'pw', user: undefined, pty: false });
    const { prompt, marker } = tokens(probe);
    void prompt;
    // sudo's stderr before the command, then the command's own stderr.
    const text = (p: string, m: string) => `lecture\n${p}${m}command err\n`;
    for (let cut = 0; cut <= text(prompt, marker).length; cut++) {
      for (const second of [cut + 1, cut + 7, cut + 40]) {
        const d = new SudoDialog({ password: 'pw', user: undefined, pty: false });
        const t = tokens(d);
        const run = wire(d, 'input\n');
        feedCut(run, 'stderr', text(t.prompt, t.marker), [cut, second]);
        await tick();
        assert.equal(run.out.stderr, 'lecture\ncommand err\n', `cut at ${cut}, ${second}`);
        assert.equal(run.sent(), 'pw\ninput\n', `cut at ${cut}, ${second}`);
        assert.ok(d.started);
      }
    }
  });

  test('input is held back until the command starts, then follows the password', async () => {
    const d = new SudoDialog({ password: 'pw', user: undefined, pty: false });
    const t = tokens(d);
    const stdin = new PassThrough();
    const run = wire(d, stdin);
    stdin.write('early ');
    await tick();
    assert.equal(run.sent(), '', 'nothing is sent before sudo asks or the command starts');
    run.feed('stderr', t.prompt);
    await tick();
    assert.equal(run.sent(), 'pw\n');
    run.feed('stdout', 'not sudo\n'); // the other stream passes at once
    assert.equal(run.out.stdout, 'not sudo\n');
    run.feed('stderr', t.marker);
    stdin.end('late\n');
    await tick();
    assert.equal(run.sent(), 'pw\nearly late\n');
    assert.ok(run.ended());
  });

  test('no prompt (NOPASSWD, a cached credential): the password is never sent', async () => {
    const d = new SudoDialog({ password: 'pw', user: undefined, pty: false });
    const run = wire(d, 'data');
    run.feed('stderr', `${tokens(d).marker}out`);
    await tick();
    assert.equal(run.sent(), 'data');
    assert.equal(run.out.stderr, 'out');
  });

  test('on a terminal: the asterisks (pwfeedback) and the line sudo ends after the password are dropped, control characters are typed literally', async () => {
    const d = new SudoDialog({ password: 'p\x03w\x7f', user: undefined, pty: true });
    const t = tokens(d);
    const run = wire(d);
    for (const piece of [t.prompt, '**', '*\b \b', '\b \b\b', ' \b', '\r', '\n', t.marker, 'root\r\n'])
      run.feed('stdout', piece);
    await tick();
    assert.equal(run.out.stdout, 'root\r\n');
    assert.equal(run.sent(), 'p\x16\x03w\x16\x7f\n');
    assert.ok(run.ended(), 'no input: the transport types ^D once it ends');
  });

  test('a second prompt means a wrong password: end of input, not the password again; the outcome says so', async () => {
    for (const pty of [false, true]) {
      const d = new SudoDialog({ password: 'pw', user: 'nobody', pty });
      const t = tokens(d);
      const run = wire(d, 'never\n');
      const stream = pty ? 'stdout' : 'stderr';
      run.feed(stream, t.prompt);
      run.feed(stream, `${pty ? '\r\n' : ''}Sorry, try again.\n${t.prompt}`);
      await tick();
      assert.equal(run.sent(), pty ? 'pw\n\x04' : 'pw\n', `pty ${pty}`);
      assert.equal(run.ended(), !pty, `pty ${pty}: without a terminal, stdin ends`);
      assert.equal(run.out[stream], 'Sorry, try again.\n');
      const outcome = d.outcome({ exitCode: 1, signal: null });
      const e = outcome.failure!(result(1, 'Sorry, try again.\n', pty));
      assert.ok(e instanceof SudoError);
      assert.equal(e.reason, 'password-rejected');
      assert.equal(e.kind, 'failed');
      assert.equal(e.user, 'nobody');
      assert.doesNotMatch(e.message, /\bpw\b/);
      assert.match(e.message, /^web1: sudo did not run the command as nobody: it rejected the password/);
    }
  });

  test("how it ended: refused (with sudo's words and what to do), not found, or the command's own status", () => {
    const refusal = (password: string | undefined, pty: boolean) => {
      const d = new SudoDialog({ password, user: undefined, pty });
      const f = d.outcome({ exitCode: 1, signal: null }).failure!;
      return f(result(1, 'sudo: a password is required\n', pty)) as SudoError;
    };
    const noPassword = refusal(undefined, false);
    assert.equal(noPassword.reason, 'refused');
    assert.equal(noPassword.exitCode, 1);
    assert.match(
      noPassword.message,
      /^web1: sudo did not run the command \(it exited with code 1 before starting it\): id/,
    );
    assert.match(noPassword.message, /sudo said:\nsudo: a password is required\n/);
    assert.match(noPassword.message, /--ask-sudo-pass/);
    assert.match(noPassword.message, /NOPASSWD/);
    assert.match(noPassword.message, /--tty/);
    const onPty = refusal('pw', true);
    assert.match(onPty.message, /sudo said:\nsudo: a password is required\nCheck the user's rules/);
    assert.doesNotMatch(onPty.message, /--tty|--ask-sudo-pass|\\r/);

    const missing = new SudoDialog({ password: undefined, user: undefined, pty: false });
    const e = missing.outcome({ exitCode: 127, signal: null }).failure!(
      result(127, 'sh: 1: exec: sudo: not found\n', false),
    );
    assert.equal((e as SudoError).reason, 'not-found');
    assert.match(e.message, /sudo is not installed/);

    // Once the command started, its status is its own; a kill is the transport's to report.
    const ran = new SudoDialog({ password: undefined, user: undefined, pty: false });
    const run = wire(ran);
    run.feed('stderr', tokens(ran).marker);
    assert.equal(ran.outcome({ exitCode: 3, signal: null }).failure, undefined);
    const killed = new SudoDialog({ password: undefined, user: undefined, pty: false });
    assert.equal(killed.outcome({ exitCode: null, signal: 'SIGTERM' }).failure, undefined);
  });
});

function result(exitCode: number, said: string, pty: boolean): CommandResult {
  const text = pty ? said.replace(/\n/g, '\r\n') : said;
  return new CommandResult({
    host: 'web1',
    command: 'id -un',
    exitCode,
    signal: null,
    stdoutBuffer: Buffer.from(pty ? text : ''),
    stderrBuffer: Buffer.from(pty ? '' : text),
    stdoutTruncated: false,
    stderrTruncated: false,
    stderrTail: pty ? '' : text,
    durationMs: 1,
  });
}
