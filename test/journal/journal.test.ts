// The journal as a library, against real OpenSSH servers: `fleet(..., { journal })` and
// `rolling({ ..., journal })` record runs whose reports `openJournal(path).run(id)` gives back,
// drawn to the same text as the live report; no password, passphrase, sudo password or key text
// reaches the database's bytes (its WAL included); a damaged file and a newer schema are
// JournalErrors that leave the file as it was.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fleet, rolling, openJournal, JournalError, FleetReport, RollingReport } from '../../src/index.js';
import { sshConnect } from '../../src/fleet/connect.js';
import { loadSqlite } from '../../src/journal/sqlite.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { sshFor } from '../ssh/helpers.js';

const PASSPHRASE = `passphrase-${randomBytes(9).toString('base64url')}`;
const SUDO_PASSWORD = `sudo-${randomBytes(9).toString('base64url')}`;

describe('the run journal (library)', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let testFleet: TestFleet;
  let ssh: SshFunction;
  let work: string;
  let encKey: string;

  before(async () => {
    testFleet = await startFleet({ healthy: 3, faults: ['password'] });
    ssh = sshFor(testFleet);
    work = mkdtempSync(join(tmpdir(), 'fleetsh-journal-'));
    encKey = join(work, 'encrypted_ed25519');
    copyFileSync(testFleet.clientKeyPath, encKey);
    execFileSync('ssh-keygen', ['-q', '-p', '-f', encKey, '-P', '', '-N', PASSPHRASE]);
  });
  after(async () => {
    await ssh?.close();
    await testFleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('a fleet run and a rolling deployment are recorded; their reports read back as the live ones; no secret in the file', async () => {
    const path = join(work, 'journal.db');
    const cfg = testFleet.sshConfigPath;
    const encText = readFileSync(encKey, 'utf8');
    const targets = [
      { host: 'h01', sshConfig: cfg, privateKey: encText, passphrase: PASSPHRASE },
      { host: 'h02', sshConfig: cfg, privateKey: encKey, passphrase: PASSPHRASE },
      { host: 'h03', sshConfig: cfg },
      { host: 'h-password', sshConfig: cfg, password: testFleet.password!.password },
    ];
    const connect = sshConnect(ssh);
    const live = await fleet(targets, {
      connect,
      journal: path,
      sudo: { password: SUDO_PASSWORD },
    }).run`echo out-$FLEETSH_HOST; test $FLEETSH_HOST != h03`;
    // h-password's sudo asks for its user's password and refuses this one: the password was used.
    assert.equal(live.counts.ok, 2, live.toText());
    assert.match(live.hosts[3]!.error ?? '', /sudo did not run the command/);

    const journal = openJournal(path);
    const past = journal.run(1);
    assert.ok(past instanceof FleetReport);
    assert.equal(past.toText(), live.toText());
    assert.deepEqual(
      past.hosts.map((h) => [h.host, h.status, h.stdout]),
      live.hosts.map((h) => [h.host, h.status, h.stdout]),
    );
    assert.deepEqual(journal.hostSet(1, 'failed'), ['h03', 'h-password']);

    const deployment = rolling({
      connect,
      journal,
      phases: [
        { name: 'db', targets: targets.slice(0, 1), command: 'echo db' },
        { name: 'web', targets: targets.slice(1), command: 'echo web', batches: [1, 2] },
      ],
      maxFailures: 1,
    });
    const liveRolling = await deployment;
    const pastRolling = journal.run(2);
    assert.ok(pastRolling instanceof RollingReport);
    assert.equal(pastRolling.toText(), liveRolling.toText());
    assert.deepEqual(
      pastRolling.phases.map((p) => [p.name, p.status, p.batches.map((b) => b.hosts)]),
      [
        ['db', 'done', ['h01']],
        ['web', 'done', ['h02', 'h-password,h03']],
      ],
    );
    const runs = journal.runs();
    assert.deepEqual(
      runs.map((r) => [r.id, r.kind, r.outcome]),
      [
        [2, 'rolling', 'ok'],
        [1, 'fleet', 'failed'],
      ],
    );
    journal.close();

    // Every byte of the journal: the database, its WAL and shared-memory index.
    const bytes = Buffer.concat(
      [path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f)).map((f) => readFileSync(f)),
    );
    const keyLines = encText
      .split('\n')
      .filter((l) => l.length >= 40 && !l.startsWith('-----'))
      .slice(3)
      .map((l) => l.slice(8, 40));
    const plainLines = readFileSync(testFleet.clientKeyPath, 'utf8')
      .split('\n')
      .filter((l) => l.length >= 40 && !l.startsWith('-----'))
      .slice(3)
      .map((l) => l.slice(8, 40));
    assert.ok(keyLines.length >= 2 && plainLines.length >= 2);
    for (const secret of [
      PASSPHRASE,
      SUDO_PASSWORD,
      testFleet.password!.password,
      ...keyLines,
      ...plainLines,
    ])
      assert.equal(bytes.indexOf(secret), -1, `a secret is in the journal's bytes: ${secret.slice(0, 6)}…`);
    assert.notEqual(bytes.indexOf('out-h01'), -1, 'the search reads the file: output is there');
  });

  test('a damaged file and a newer schema are JournalErrors; the file is left as it was', () => {
    const damaged = join(work, 'damaged.db');
    writeFileSync(damaged, 'not a database '.repeat(300));
    const before = readFileSync(damaged);
    assert.throws(
      () => openJournal(damaged),
      (e: unknown) =>
        e instanceof JournalError && /damaged or not an SQLite database/.test((e as Error).message),
    );
    assert.deepEqual(readFileSync(damaged), before);

    const newer = join(work, 'newer.db');
    const db = new (loadSqlite())(newer);
    db.pragma('application_id = 1179407176');
    db.pragma('user_version = 2');
    db.close();
    const was = readFileSync(newer);
    assert.throws(() => openJournal(newer), /schema version 2, newer than this fleetsh reads \(1\)/);
    assert.deepEqual(readFileSync(newer), was);

    const other = join(work, 'other.db');
    const odb = new (loadSqlite())(other);
    odb.exec('CREATE TABLE notes (text TEXT)');
    odb.close();
    assert.throws(() => openJournal(other), /SQLite database with tables of its own, not a fleetsh journal/);
  });

  test('four processes creating one journal at once all open it and record their runs', async () => {
    // Each opens a fresh journal and records a run: the creation race (tables and header are one
    // commit, WAL mode one lock) must never make one refuse the file another just made.
    const script =
      `import { openJournal } from ${JSON.stringify(new URL('../../src/journal/journal.ts', import.meta.url).pathname)};` +
      `const j = openJournal(process.argv[1]);` +
      `j.startRun({ kind: 'x', label: 'x', hosts: [{ name: 'a' }], options: {} }).finish('ok');` +
      `console.log('recorded');`;
    for (let round = 0; round < 4; round++) {
      const path = join(work, `race-${round}.db`);
      const outcomes = await Promise.all(
        Array.from(
          { length: 4 },
          () =>
            new Promise<string>((resolve) => {
              const child = spawn(
                process.execPath,
                ['--import', 'tsx', '--input-type=module', '-e', script, path],
                {
                  stdio: ['ignore', 'pipe', 'pipe'],
                },
              );
              let out = '';
              child.stdout.on('data', (d: Buffer) => (out += d));
              child.stderr.on('data', (d: Buffer) => (out += d));
              const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
              child.on('close', () => (clearTimeout(timer), resolve(out.trim())));
            }),
        ),
      );
      assert.deepEqual(outcomes, ['recorded', 'recorded', 'recorded', 'recorded'], outcomes.join('\n'));
      const journal = openJournal(path);
      assert.equal(journal.runs().length, 4);
      journal.close();
    }
  });

  test('an old journal is migrated to this schema once; a second open finds it current', () => {
    const path = join(work, 'fresh.db');
    const a = openJournal(path);
    const b = openJournal(path);
    const db = new (loadSqlite())(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 1);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    a.close();
    b.close();
  });
});
