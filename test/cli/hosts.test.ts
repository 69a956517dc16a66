// `fleetsh hosts` and usage errors: no SSH needed, only the built CLI.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { skippedResult, type HostStatus } from '../../src/fleet/host-result.js';
import { openJournal } from '../../src/journal/journal.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

describe('fleetsh hosts', () => {
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  before(() => {
    ensureBuilt();
    writeFileSync(
      join(tmp.dir, 'fleetsh.yml'),
      [
        'groups:',
        "  web: 'web[1-3].prod'",
        "  db: { hosts: 'db[01-02]', port: 2222 }",
        '  prod: { children: [web, db] }',
        '',
      ].join('\n'),
    );
  });
  after(() => tmp.cleanup());

  test('expands ranges, padding, steps and set operations, one host a line', async () => {
    const r = await fleetsh(['hosts', '-w', 'web[1-5/2],db[01-02],x[1-3]!x2'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['web1', 'web3', 'web5', 'db01', 'db02', 'x1', 'x3']);
  });

  test('--fold gives the shortest host set, --count the number, --json a list', async () => {
    const fold = await fleetsh(['hosts', '--fold', 'web1', 'web2', 'web3', 'web7'], { env });
    assert.equal(fold.stdout, 'web[1-3,7]\n');
    const count = await fleetsh(['hosts', '-c', '-w', 'r[1-2]n[1-4]'], { env });
    assert.equal(count.stdout, '8\n');
    const json = await fleetsh(['hosts', '--json', '-w', 'a[1-2]'], { env });
    assert.deepEqual(JSON.parse(json.stdout), ['a1', 'a2']);
  });

  test('-x leaves hosts out', async () => {
    const r = await fleetsh(['hosts', '--fold', '-w', 'n[1-10]', '-x', 'n[3-4]'], { env });
    assert.equal(r.stdout, 'n[1-2,5-10]\n');
  });

  test('reads ./fleetsh.yml by default: @groups, nested groups, --groups', async () => {
    const r = await fleetsh(['hosts', '--fold', '-w', '@prod!@db'], { env, cwd: tmp.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'web[1-3].prod\n');
    const all = await fleetsh(['hosts', '-c'], { env, cwd: tmp.dir });
    assert.equal(all.stdout, '5\n');
    const groups = await fleetsh(['hosts', '--groups'], { env, cwd: tmp.dir });
    assert.match(groups.stdout, /^@web\s+web\[1-3\]\.prod \(3\)$/m);
    assert.match(groups.stdout, /^@prod\s+.*\(5\)$/m);
  });

  test('-i names another inventory; a missing one is a usage error', async () => {
    const r = await fleetsh(['hosts', '-i', join(tmp.dir, 'fleetsh.yml'), '-w', '@db', '--fold'], { env });
    assert.equal(r.stdout, 'db[01-02]\n');
    const missing = await fleetsh(['hosts', '-i', join(tmp.dir, 'nope.yml'), '-w', '@db'], { env });
    assert.equal(missing.code, 64);
    assert.match(missing.stderr, /nope\.yml.*no such file/);
  });

  test('a malformed host set exits 64 and points at the column', async () => {
    const r = await fleetsh(['hosts', '-w', 'web[1-'], { env });
    assert.equal(r.code, 64);
    assert.match(r.stderr, /column \d+\)\n {2}web\[1-\n {2}\s*\^/);
    const group = await fleetsh(['hosts', '-w', '@webb'], { env, cwd: tmp.dir });
    assert.equal(group.code, 64);
    assert.match(group.stderr, /did you mean @web\?/);
  });

  test('@failed without a previous run is a usage error that says so', async () => {
    const r = await fleetsh(['hosts', '-w', '@failed'], {
      env: { FLEETSH_STATE_FILE: join(tmp.dir, 'none.json') },
    });
    assert.equal(r.code, 64);
    assert.match(r.stderr, /@failed: there is no previous run/);
  });

  test('@failed, @ok, @unreachable and 1:@ok read the journal', async () => {
    const path = join(tmp.dir, 'journal.db');
    const journal = openJournal(path);
    const writer = journal.startRun({
      kind: 'run',
      label: 'run x',
      hosts: ['a1', 'a2', 'a3', 'a4'].map((name) => ({ name })),
      options: {},
    });
    const end = (host: string, status: HostStatus) =>
      writer.hostEnd({ ...skippedResult(host, 0, 'cancelled', ''), status, success: status === 'ok' });
    end('a1', 'ok');
    end('a2', 'failed');
    end('a3', 'timeout');
    end('a4', 'unreachable');
    writer.finish('failed');
    journal.close();
    const r = await fleetsh(['hosts', '--fold', '-w', '@failed,@unreachable'], {
      env: { FLEETSH_JOURNAL: path },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a[2-4]\n');
    const ok = await fleetsh(['hosts', '-w', '1:@ok'], { env: { FLEETSH_JOURNAL: path } });
    assert.equal(ok.stdout, 'a1\n', ok.stderr);
    const none = await fleetsh(['hosts', '-w', '7:@ok'], { env: { FLEETSH_JOURNAL: path } });
    assert.equal(none.code, 64);
    assert.match(none.stderr, /7:@ok: run 7 is not in the journal/);
  });
});

describe('usage errors', () => {
  before(() => ensureBuilt());

  test('unknown commands and options, missing -w, bad flag values exit 64', async () => {
    for (const args of [
      ['bogus'],
      ['run', '--', 'true'],
      ['run', '-w', 'h1', '--bogus', '--', 'true'],
      ['run', '-w', 'h1', '-f', 'lots', '--', 'true'],
      ['run', '-w', 'h1', '--max-failures', 'many', '--', 'true'],
      ['run', '-w', 'h1', '--timeout', 'soon', '--', 'true'],
      ['run', '-w', 'h1', '--json', '--ndjson', '--', 'true'],
      ['rolling', '-w', 'h1', '--batches', '1,,2', '--', 'true'],
    ]) {
      const r = await fleetsh(args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.notEqual(r.stderr, '', args.join(' '));
    }
  });

  test('--help and --version exit 0', async () => {
    const help = await fleetsh(['run', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--fanout/);
    const top = await fleetsh(['--help']);
    assert.equal(top.code, 0);
    // The exit statuses, as exit-codes.ts defines them.
    assert.match(
      top.stdout,
      /Exit status: 0 every host succeeded, 1 a command failed, 2 a host was unreachable,\s+64 usage error, 70 internal error, 130 interrupted, 141 stdout closed\./,
    );
    const version = await fleetsh(['--version']);
    assert.equal(version.code, 0);
    // package.json's, not a number written in the CLI.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    assert.equal(version.stdout, `${pkg.version}\n`);
  });
});
