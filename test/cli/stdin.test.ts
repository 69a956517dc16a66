// `fleetsh run ... < input` and `--stdin-file FILE` against real OpenSSH servers: every host gets
// the same bytes, read once, also the hosts that start after fleetsh's stdin has ended; a file
// that cannot be read is a usage error before anything runs. (On a terminal stdin is not read at
// all: test/cli/terminal.test.ts.)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { CLI, ensureBuilt, fleetsh, scratch } from './helpers.js';

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('input to every host', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  let conn: string[];

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 4 });
    conn = ['-F', fleet.sshConfigPath];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('stdin piped in: every host gets the same bytes, one host at a time included', async () => {
    const text =
      Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`).join('\n') + '\n';
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-04]', '-f', '1', '--gather', '--', 'sha256sum'], {
      env,
      input: text,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^h\\[01-04\\] \\(4\\)\\n-+\\n${sha(text)}  -$`, 'm'));
  });

  test('stdin arriving slowly reaches hosts as it comes: a command answers before the input has ended', async () => {
    // The writer waits for the hosts' first answer before it sends the rest and closes stdin.
    const child = spawn(
      process.execPath,
      [CLI, 'run', ...conn, '-w', 'h[01-02]', '--', 'head -n 1; cat > /dev/null; echo end'],
      {
        env: { ...process.env, ...env, NO_COLOR: '1' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise<number | null>((r) => child.on('close', r));
    try {
      child.stdin.write('first\n');
      const deadline = Date.now() + 20_000;
      while ((out.match(/: +first$/gm) ?? []).length < 2) {
        assert.ok(Date.now() < deadline, `no host answered before the input ended: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.stdin.end('second\n');
      assert.equal(await closed, 0, out);
      assert.equal((out.match(/: +end$/gm) ?? []).length, 2);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  test('--stdin-file FILE: every host reads the file; a missing file is a usage error and nothing runs', async () => {
    const file = join(tmp.dir, 'input.txt');
    writeFileSync(file, 'from the file\n');
    const r = await fleetsh(
      ['run', ...conn, '-w', 'h[01-03]', '--stdin-file', file, '--gather', '--', 'cat'],
      {
        env,
        input: 'not this\n',
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^h\[01-03\] \(3\)\n-+\nfrom the file$/m);
    const missing = await fleetsh(
      [
        'run',
        ...conn,
        '-w',
        'h01',
        '--stdin-file',
        join(tmp.dir, 'nope'),
        '--',
        'touch',
        join(tmp.dir, 'ran'),
      ],
      { env },
    );
    assert.equal(missing.code, 64);
    assert.match(missing.stderr, /cannot read .*nope: no such file/);
    assert.equal(existsSync(join(tmp.dir, 'ran')), false);
  });

  test('no input piped in: commands reading stdin get end of input at once', async () => {
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-02]', '--gather', '--', 'wc -c'], {
      env,
      input: '',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^h\[01-02\] \(2\)\n-+\n0$/m);
  });

  test('stdin from /dev/null is not taken for input: commands get end of input at once, as with none', async () => {
    const r = spawnSync(
      process.execPath,
      [CLI, 'run', ...conn, '-w', 'h[01-02]', '--gather', '--', 'wc -c'],
      {
        env: { ...process.env, ...env, NO_COLOR: '1', FLEETSH_NO_AGENT: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^h\[01-02\] \(2\)\n-+\n0$/m);
    // What the CLI hands the fleet as input: nothing for /dev/null, fleetsh's stdin for a pipe or file.
    const ask = (stdin: 'ignore' | 'pipe') =>
      spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(join(dirname(CLI), 'stdin.js'))});` +
            `console.log(m.commandInput({}) === undefined ? 'none' : 'stdin');`,
        ],
        { stdio: [stdin, 'pipe', 'pipe'], input: stdin === 'pipe' ? '' : undefined, encoding: 'utf8' },
      ).stdout.trim();
    assert.equal(ask('ignore'), 'none');
    assert.equal(ask('pipe'), 'stdin');
  });
});
