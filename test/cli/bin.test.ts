// The `fleetsh` executable (dist/cli/bin.cjs): it runs the bundle through V8's code cache, replaces
// a cache that V8 rejects, runs the CLI modules directly when there is no bundle, and its bundle
// loads ssh2's native addons just as ssh2 does unbundled. Each case works on a copy of dist/, so
// the shared one that other tests run stays untouched.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt, ROOT, scratch } from './helpers.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function node(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the fleetsh executable', () => {
  const tmp = scratch();
  /** A copy of dist/ beside a link to node_modules, as an installed package has it. */
  function copyOfDist(name: string, withBundle = true): { bin: string; bundle: string; cache: string } {
    const root = join(tmp.dir, name);
    cpSync(join(ROOT, 'dist'), join(root, 'dist'), {
      recursive: true,
      filter: (src) => withBundle || !src.includes('fleetsh.cjs'),
    });
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
    const bundle = join(root, 'dist', 'fleetsh.cjs');
    return { bin: join(root, 'dist', 'cli', 'bin.cjs'), bundle, cache: `${bundle}.v8-cache` };
  }
  const hosts = ['hosts', '-w', 'web[1-3],db1'];
  const expected = 'web1\nweb2\nweb3\ndb1\n';

  before(() => ensureBuilt());
  after(() => tmp.cleanup());

  test('the build leaves a code cache that V8 accepts, and a run leaves it alone', async () => {
    const { bin, cache } = copyOfDist('primed');
    const before = readFileSync(cache);
    assert.ok(before.length > 10_000, `a primed cache holds the compiled run path (${before.length} bytes)`);
    const r = await node([bin, ...hosts]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, expected);
    assert.deepEqual(readFileSync(cache), before, 'an accepted cache is not rewritten');
  });

  test('a cache V8 rejects is replaced by a good one, and the run is not disturbed', async () => {
    const { bin, cache } = copyOfDist('rejected');
    writeFileSync(cache, 'not a code cache');
    const r = await node([bin, ...hosts]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, expected);
    const rewritten = readFileSync(cache);
    assert.notEqual(rewritten.toString('latin1'), 'not a code cache');
    assert.ok(rewritten.length > 1000);
    const mtime = statSync(cache).mtimeMs;
    const again = await node([bin, ...hosts]);
    assert.equal(again.stdout, expected);
    assert.equal(statSync(cache).mtimeMs, mtime, 'the new cache is accepted on the next run');
  });

  test('a missing cache is written at exit', async () => {
    const { bin, cache } = copyOfDist('missing');
    rmSync(cache);
    const r = await node([bin, '--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
    assert.ok(statSync(cache).size > 1000);
  });

  test('without a bundle, the CLI modules run directly', async () => {
    const { bin, bundle } = copyOfDist('unbundled', false);
    assert.throws(() => statSync(bundle));
    const r = await node([bin, ...hosts]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, expected);
    const usage = await node([bin, 'run', '-w', 'a', '--fanout', 'lots', '--', 'true']);
    assert.equal(usage.code, 64, 'exit codes are the same either way');
  });

  test("the bundle loads the same native addons as ssh2 from node_modules, and the journal's better-sqlite3", async () => {
    // A preload that reports every addon Node loads.
    const preload = join(tmp.dir, 'dlopen.cjs');
    writeFileSync(
      preload,
      "const o = process.dlopen; process.dlopen = (m, f, ...r) => { process._rawDebug('addon ' + require('path').basename(f)); return o.call(process, m, f, ...r); };\n",
    );
    const addons = (r: Run) =>
      r.stderr
        .split('\n')
        .filter((l) => l.startsWith('addon '))
        .sort();
    const unbundled = addons(await node(['-r', preload, '-e', "require('ssh2')"]));

    // The bundle loads ssh2 when a run connects: point one at a listener that hangs up at once.
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const run = await node(
      [
        '-r',
        preload,
        join(ROOT, 'dist', 'cli', 'bin.cjs'),
        'run',
        '-w',
        '127.0.0.1',
        '-p',
        String(port),
        '-F',
        '/dev/null',
        '--known-hosts',
        join(tmp.dir, 'known_hosts'),
        '--',
        'true',
      ],
      { FLEETSH_STATE_FILE: tmp.stateFile },
    );
    server.close();
    assert.equal(run.code, 2, run.stderr);
    // The run is recorded in the journal: SQLite's addon, resolved from node_modules too.
    assert.deepEqual(addons(run), [...unbundled, 'addon better_sqlite3.node'].sort());
  });
});
