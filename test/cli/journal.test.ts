// The run journal through the CLI, against real OpenSSH servers: a rolling deployment whose
// controller is killed with SIGKILL mid-batch, then `fleetsh resume` with each choice for the host it
// had in flight, counting on the hosts (each deploy appends a line to a file of its own host) that
// every host ran exactly once except the interrupted one, which follows the choice; the failure
// budget counting what failed before the crash; history and show; two runs at once on one journal;
// a damaged journal and one from a newer fleetsh refused, unchanged, with a way forward.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadSqlite } from '../../src/journal/sqlite.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { quote } from '../../src/command/quote.js';
import { CLI, ensureBuilt, fleetsh, scratch, waitFor } from './helpers.js';

const tmuxAvailable = spawnSync('tmux', ['-V']).status === 0;

describe('the run journal', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  let conn: string[];

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 6 });
    conn = ['-F', fleet.sshConfigPath];
  });
  const sessions: string[] = [];
  after(async () => {
    for (const s of sessions) spawnSync('tmux', ['kill-session', '-t', s]);
    await fleet?.stop();
    tmp.cleanup();
  });

  /** How many times each host ran the deploy, from the files the hosts wrote. */
  function counts(dir: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 1; i <= 6; i++) {
      const f = join(dir, `h0${i}.count`);
      out[`h0${i}`] = existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').length : 0;
    }
    return out;
  }

  /** A host's status in the journal, read as the controller writes it (WAL: readers do not block it). */
  function hostStatus(journal: string, host: string): string | undefined {
    if (!existsSync(journal)) return undefined;
    const Sqlite = loadSqlite();
    const db = new Sqlite(journal, { readonly: true, fileMustExist: true, timeout: 5000 });
    try {
      const row = db.prepare(`SELECT status FROM hosts WHERE host = ?`).get(host) as
        { status: string } | undefined;
      return row?.status;
    } catch {
      return undefined; // not created yet
    } finally {
      db.close();
    }
  }

  /**
   * `fleetsh rolling` over h01..h06 in batches 2,2,1,1, killed with SIGKILL once h03 has finished
   * and h04 is running (h04 waits for a release file that appears only after the kill). The deploy
   * appends a line to DIR/<host>.count on every run; hosts in `fail` fail after it.
   */
  async function crashedDeployment(name: string, fail: string[], budget: string) {
    const dir = join(tmp.dir, name);
    const journal = join(dir, 'journal.db');
    const release = join(dir, 'release');
    mkdirSync(dir, { recursive: true });
    const deploy =
      `echo deployed >> ${dir}/$FLEETSH_HOST.count; ` +
      `if [ "$FLEETSH_HOST" = h04 ]; then i=0; while [ ! -e ${release} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; fi; ` +
      `case " ${fail.join(' ')} " in *" $FLEETSH_HOST "*) exit 1;; esac; echo ok`;
    const env = { FLEETSH_JOURNAL: journal };
    let child: ChildProcess | undefined;
    const running = fleetsh(
      ['rolling', ...conn, '-w', 'h[01-06]', '--batches', '2,2,1', '--max-failures', budget, '--', deploy],
      { env, onSpawn: (c) => (child = c), timeoutMs: 90_000 },
    );
    await waitFor(
      () =>
        hostStatus(journal, 'h03') === 'ok' &&
        hostStatus(journal, 'h04') === 'running' &&
        existsSync(join(dir, 'h04.count')),
      60_000,
      'h03 finished and h04 in flight',
    );
    child!.kill('SIGKILL');
    const killed = await running;
    assert.equal(killed.signal, 'SIGKILL');
    writeFileSync(release, ''); // the interrupted h04, if run again, now ends at once
    return { dir, journal, env, deploy };
  }

  test('kill -9 mid-deployment, then resume --rerun-interrupted: each host deployed once, h04 twice; the budget counts what failed before', async () => {
    // h02 fails in batch 1 (within --max-failures 1); h05 fails after the resume: 2 > 1 stops the
    // deployment before h06, which proves the failure from before the crash was counted.
    const { dir, env } = await crashedDeployment('rerun', ['h02', 'h05'], '1');

    const history = await fleetsh(['history'], { env });
    assert.equal(history.code, 0, history.stderr);
    assert.match(
      history.stdout,
      /^ +1 .* rolling .* interrupted +6 hosts: 2 ok, 1 failed, 1 interrupted, 2 skipped$/m,
    );
    const shown = await fleetsh(['show', '1'], { env });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^run 1: rolling .*: interrupted$/m);
    assert.match(shown.stdout, /h04: interrupted: fleetsh stopped while this host ran/);
    assert.match(shown.stdout, /^fleetsh resume 1 continues it$/m);

    // Without a terminal, no choice is made for the operator.
    const refused = await fleetsh(['resume', '1'], { env });
    assert.equal(refused.code, 64, refused.stderr);
    assert.match(
      refused.stderr,
      /1 host was in flight when run 1 stopped \(h04\).*--rerun-interrupted.*--skip-interrupted/s,
    );
    assert.deepEqual(counts(dir), { h01: 1, h02: 1, h03: 1, h04: 1, h05: 0, h06: 0 });

    const resumed = await fleetsh(['resume', '1', '--rerun-interrupted'], { env, timeoutMs: 60_000 });
    assert.equal(resumed.code, 1, resumed.stderr);
    assert.match(resumed.stderr, /resuming run 1 .*: h\[04-06\] left to run/);
    assert.match(resumed.stdout, /deployment stopped: 3 deployed, 2 failed, 1 not started/);
    assert.deepEqual(counts(dir), { h01: 1, h02: 1, h03: 1, h04: 2, h05: 1, h06: 0 });

    const after = await fleetsh(['show', '1', '--json'], { env });
    const doc = JSON.parse(after.stdout);
    assert.equal(doc.run.sessions, 2);
    assert.equal(doc.run.outcome, 'stopped');
    assert.deepEqual(doc.interrupted, []);
    assert.equal(doc.report.failed, 'h[02,05]');
    const again = await fleetsh(['resume', '1', '--rerun-interrupted'], { env });
    assert.equal(again.code, 64);
    assert.match(again.stderr, /run 1 ended \(stopped\): there is nothing to resume/);
    const failed = await fleetsh(['hosts', '--fold', '-w', '1:@failed'], { env });
    assert.equal(failed.stdout, 'h[02,05]\n', failed.stderr);
  });

  test('kill -9 mid-deployment, then resume --skip-interrupted: h04 is left as it was, the rest deployed once', async () => {
    const { dir, env } = await crashedDeployment('skip', [], '0');
    const resumed = await fleetsh(['resume', 'last', '--skip-interrupted'], { env, timeoutMs: 60_000 });
    assert.match(resumed.stdout, /deployment complete: 5 deployed, 0 failed, 1 not started/, resumed.stderr);
    assert.deepEqual(counts(dir), { h01: 1, h02: 1, h03: 1, h04: 1, h05: 1, h06: 1 });
    const shown = await fleetsh(['show', '1'], { env });
    assert.match(shown.stdout, /h04: interrupted when run 1 stopped; left as it was on resume/);
    const skipped = await fleetsh(['hosts', '-w', '@skipped'], { env });
    assert.equal(skipped.stdout, 'h04\n', skipped.stderr);
  });

  test(
    'on a terminal, resume asks what to do with the host in flight; s leaves it',
    { skip: !tmuxAvailable && 'needs tmux' },
    async () => {
      const { dir, journal } = await crashedDeployment('ask', [], '0');
      const name = `fleetsh-resume-${process.pid}`;
      sessions.push(name);
      const cmd = `env FLEETSH_JOURNAL=${quote(journal)} NO_COLOR=1 ${quote(process.execPath)} ${quote(CLI)} resume 1; echo "[exit $?]"`;
      const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
      tmux('new-session', '-d', '-x', '160', '-y', '40', '-s', name, cmd);
      tmux('set-option', '-t', name, 'remain-on-exit', 'on');
      const screen = () => tmux('capture-pane', '-p', '-S', '-', '-t', name);
      await waitFor(() => screen().includes('[r/s]'), 20_000, 'the question');
      assert.match(screen(), /1 host was in flight when run 1 stopped \(h04\)/);
      tmux('send-keys', '-t', name, '-l', 's');
      tmux('send-keys', '-t', name, 'Enter');
      await waitFor(() => screen().includes('[exit '), 60_000, 'fleetsh to end');
      assert.match(screen(), /deployment complete: 5 deployed, 0 failed, 1 not started/, screen());
      assert.deepEqual(counts(dir), { h01: 1, h02: 1, h03: 1, h04: 1, h05: 1, h06: 1 });
    },
  );

  test('kill -9 mid-run, then resume: only the host in flight runs again; the run ends as one run of two sessions', async () => {
    const dir = join(tmp.dir, 'run');
    mkdirSync(dir, { recursive: true });
    const journal = join(dir, 'journal.db');
    const release = join(dir, 'release');
    const env = { FLEETSH_JOURNAL: journal };
    const command =
      `echo ran >> ${dir}/$FLEETSH_HOST.count; ` +
      `if [ "$FLEETSH_HOST" = h04 ]; then i=0; while [ ! -e ${release} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; fi`;
    let child: ChildProcess | undefined;
    const running = fleetsh(['run', ...conn, '-w', 'h[01-06]', '--', command], {
      env,
      onSpawn: (c) => (child = c),
      timeoutMs: 90_000,
    });
    const others = ['h01', 'h02', 'h03', 'h05', 'h06'];
    await waitFor(
      () => others.every((h) => hostStatus(journal, h) === 'ok') && hostStatus(journal, 'h04') === 'running',
      60_000,
      'every host but h04 finished, h04 in flight',
    );
    child!.kill('SIGKILL');
    assert.equal((await running).signal, 'SIGKILL');
    writeFileSync(release, '');
    const resumed = await fleetsh(['resume', '1', '--rerun-interrupted'], { env, timeoutMs: 60_000 });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming run 1 .*: h04 left to run/);
    assert.match(resumed.stdout, /^1 host: 1 ok/m);
    assert.deepEqual(counts(dir), { h01: 1, h02: 1, h03: 1, h04: 2, h05: 1, h06: 1 });
    const shown = JSON.parse((await fleetsh(['show', '1', '--json'], { env })).stdout);
    assert.equal(shown.run.outcome, 'ok');
    assert.equal(shown.run.sessions, 2);
    assert.equal(shown.report.counts.ok, 6);
  });

  test('Ctrl-C mid-run, then resume: the host Ctrl-C killed is interrupted, and runs again when asked', async () => {
    const dir = join(tmp.dir, 'sigint');
    mkdirSync(dir, { recursive: true });
    const journal = join(dir, 'journal.db');
    const release = join(dir, 'release');
    const env = { FLEETSH_JOURNAL: journal };
    const command =
      `echo ran >> ${dir}/$FLEETSH_HOST.count; ` +
      `if [ "$FLEETSH_HOST" = h02 ]; then i=0; while [ ! -e ${release} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; fi`;
    let child: ChildProcess | undefined;
    const running = fleetsh(['run', ...conn, '-w', 'h[01-03]', '--', command], {
      env,
      onSpawn: (c) => (child = c),
      timeoutMs: 90_000,
    });
    await waitFor(
      () =>
        hostStatus(journal, 'h01') === 'ok' &&
        hostStatus(journal, 'h03') === 'ok' &&
        hostStatus(journal, 'h02') === 'running',
      60_000,
      'h01 and h03 finished, h02 in flight',
    );
    child!.kill('SIGINT');
    assert.equal((await running).code, 130);
    writeFileSync(release, '');
    const refused = await fleetsh(['resume', '1'], { env });
    assert.equal(refused.code, 64, refused.stderr);
    assert.match(refused.stderr, /in flight when run 1 stopped \(h02\)/);
    const resumed = await fleetsh(['resume', '1', '--rerun-interrupted'], { env, timeoutMs: 60_000 });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /: h02 left to run/);
    const ran = (h: string) =>
      readFileSync(join(dir, `${h}.count`), 'utf8')
        .trim()
        .split('\n').length;
    assert.deepEqual(['h01', 'h02', 'h03'].map(ran), [1, 2, 1]);
  });

  test('two runs at once on one journal: both recorded whole', async () => {
    const journal = join(tmp.dir, 'concurrent.db');
    const env = { FLEETSH_JOURNAL: journal };
    const [a, b] = await Promise.all([
      fleetsh(['run', ...conn, '-w', 'h[01-06]', '--', 'echo a'], { env }),
      fleetsh(['run', ...conn, '-w', 'h[01-06]', '--', 'echo b'], { env }),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const h = await fleetsh(['history', '--json'], { env });
    const runs = JSON.parse(h.stdout) as { label: string; outcome: string; counts: { ok: number } }[];
    assert.deepEqual(
      runs.map((r) => [r.outcome, r.counts.ok]),
      [
        ['ok', 6],
        ['ok', 6],
      ],
      h.stdout + h.stderr,
    );
    assert.deepEqual(runs.map((r) => r.label).sort(), ['run echo a', 'run echo b']);
    for (const id of ['1', '2']) {
      const shown = await fleetsh(['show', id], { env });
      assert.match(shown.stdout, /^6 hosts: 6 ok/m, shown.stderr);
    }
  });

  test('a damaged journal is refused, left unchanged, with a way forward; --no-journal runs', async () => {
    const journal = join(tmp.dir, 'damaged.db');
    const junk = Buffer.from('this is not a database, but it is what the operator has '.repeat(100));
    writeFileSync(journal, junk);
    const env = { FLEETSH_JOURNAL: journal };
    const r = await fleetsh(['run', ...conn, '-w', 'h01', '--', 'echo x > /dev/null'], { env });
    assert.equal(r.code, 64, r.stderr);
    assert.match(r.stderr, /the journal .*damaged\.db is damaged or not an SQLite database/);
    assert.match(r.stderr, /mv .*damaged\.db .*damaged\.db\.broken.*--no-journal/s);
    assert.equal(r.stdout, '', 'nothing ran');
    assert.deepEqual(readFileSync(journal), junk);
    const off = await fleetsh(['run', ...conn, '-w', 'h01', '--no-journal', '--', 'true'], { env });
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(readFileSync(journal), junk);
    const history = await fleetsh(['history'], { env });
    assert.equal(history.code, 64);
  });

  test('a journal from a newer fleetsh is refused and left unchanged', async () => {
    const journal = join(tmp.dir, 'newer.db');
    const Sqlite = loadSqlite();
    const db = new Sqlite(journal);
    db.pragma('application_id = 1179407176');
    db.pragma('user_version = 99');
    db.exec('CREATE TABLE runs (id INTEGER PRIMARY KEY, future TEXT)');
    db.close();
    const before = readFileSync(journal);
    const r = await fleetsh(['run', ...conn, '-w', 'h01', '--journal', journal, '--', 'true']);
    assert.equal(r.code, 64, r.stderr);
    assert.match(r.stderr, /schema version 99, newer than this fleetsh reads \(1\).*upgrade fleetsh/s);
    assert.deepEqual(readFileSync(journal), before);
  });
});
