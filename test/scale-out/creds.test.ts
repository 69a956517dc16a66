// NATS credentials against a real nats-server in operator mode (decentralized JWT authentication,
// test/harness/nats-operator.ts) and real OpenSSH hosts: a worker and a coordinator holding a
// user's .creds file run a fleet and the report is whole; without credentials, or with a user of an
// account the server does not know, every host fails naming the server and the authorization error
// and a worker refuses to start; a user of another account the server knows sees no worker (NATS
// accounts isolate subjects); no seed appears in any message, report or journal.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $, startWorker } from '../../src/index.js';
import type { ServerObject } from '../../src/fleet/target.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { natsAvailable, startNats, type TestNats } from '../harness/nats.js';
import { operatorAuth, type OperatorAuth } from '../harness/nats-operator.js';
import { settlesWithin } from '../harness/settle.js';
import { CLI, ensureBuilt, fleetsh, scratch } from '../cli/helpers.js';

const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') || (!natsAvailable() && 'nats-server not installed');

describe('NATS credentials in operator mode', { skip }, () => {
  let tf: TestFleet;
  let nats: TestNats;
  let auth: OperatorAuth;
  const tmp = scratch();
  const children = new Set<ChildProcess>();

  before(async () => {
    ensureBuilt();
    auth = operatorAuth(tmp.dir);
    [tf, nats] = await Promise.all([startFleet({ healthy: 4 }), startNats({ operator: auth })]);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await $.close();
    await Promise.all([tf?.stop(), nats?.stop()]);
    tmp.cleanup();
  });

  const targets = (): ServerObject[] =>
    tf.healthy.map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath }));
  /** The error of a connection the server refused: it names the server and NATS's own reason. */
  const refusedBy = () =>
    new RegExp(
      `cannot connect to the NATS server nats://127\\.0\\.0\\.1:${nats.port}: Authorization Violation`,
    );

  function noSeed(text: string, where: string): void {
    assert.ok(text.length > 0, `${where}: something to check`);
    for (const seed of auth.seeds) {
      assert.ok(!text.includes(seed), `${where} holds a seed`);
      // A seed's distinctive part too (SU... base32), in case something re-encodes its prefix.
      assert.ok(!text.includes(seed.slice(2, 30)), `${where} holds part of a seed`);
    }
  }

  test('a worker and a coordinator with the user creds run the fleet; without creds or with an unknown account every host fails naming the server, and a worker refuses to start', async () => {
    const creds = auth.creds.user;
    const worker = await settlesWithin(
      startWorker({ servers: nats.url, creds, heartbeat: '500ms' }),
      60_000,
      'the worker with creds starting',
    );
    try {
      const ok = await settlesWithin(
        $.fleet(targets(), { nats: { servers: nats.url, creds, workerWait: '10s' } })
          .run`echo "hi from $(hostname)"`,
        90_000,
        'the run with creds',
      );
      assert.equal(ok.counts.ok, 4, ok.toText());
      assert.equal(ok.hosts.length, 4);
      for (const h of ok.hosts) assert.match(h.stdout ?? '', /^hi from /, h.host);
      noSeed(ok.toText() + JSON.stringify(ok), 'the report');

      for (const [what, c] of [
        ['no creds', undefined],
        ['an unknown account', auth.creds.unknownAccount],
      ] as const) {
        const refused = await settlesWithin(
          $.fleet(targets(), { nats: { servers: nats.url, ...(c ? { creds: c } : {}), workerWait: '10s' } })
            .run`echo never`,
          60_000,
          `the run with ${what}`,
        );
        assert.equal(refused.counts.unreachable, 4, `${what}: ${refused.toText()}`);
        for (const h of refused.hosts) {
          assert.equal(h.kind, 'refused', `${what}: ${h.host}`);
          assert.match(h.error ?? '', refusedBy(), `${what}: ${h.host}`);
        }
        noSeed(refused.toText() + JSON.stringify(refused), `the report with ${what}`);

        const err = await settlesWithin(
          startWorker({ servers: nats.url, ...(c ? { creds: c } : {}) }).then(
            async (w) => (await w.stop(), undefined),
            (e: Error) => e,
          ),
          60_000,
          `a worker with ${what}`,
        );
        assert.ok(err, `a worker with ${what} started`);
        assert.match(err.message, refusedBy());
        noSeed(err.message, `the worker's error with ${what}`);
      }
    } finally {
      await worker.stop();
    }
  });

  test("a user of another account sees none of the first account's workers: its hosts are unreachable (no-worker)", async () => {
    const worker = await startWorker({ servers: nats.url, creds: auth.creds.user, heartbeat: '500ms' });
    try {
      const r = await settlesWithin(
        $.fleet(targets().slice(0, 2), {
          nats: { servers: nats.url, creds: auth.creds.otherAccount, workerWait: '2s' },
        }).run`echo never`,
        60_000,
        'the run in the other account',
      );
      assert.equal(r.counts.unreachable, 2, r.toText());
      for (const h of r.hosts) assert.equal(h.kind, 'no-worker', `${h.host}: ${h.error}`);
    } finally {
      await worker.stop();
    }
  });

  test('fleetsh worker --creds and fleetsh run --nats-creds: the run is whole; without them both fail clearly; no seed in any output or the journal', async () => {
    const journal = join(tmp.dir, 'journal.db');
    const env = { FLEETSH_JOURNAL: journal };
    const child = spawn(
      process.execPath,
      [CLI, 'worker', '--nats', nats.url, '--creds', auth.creds.user, '--heartbeat', '500ms'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.add(child);
    child.once('exit', () => children.delete(child));
    let workerErr = '';
    child.stderr!.on('data', (d: Buffer) => (workerErr += d.toString()));
    try {
      await settlesWithin(
        new Promise<void>((resolve, reject) => {
          child.stderr!.on('data', () => / ready: zone /.test(workerErr) && resolve());
          child.once('exit', (code) => reject(new Error(`fleetsh worker exited (${code}): ${workerErr}`)));
        }),
        60_000,
        'fleetsh worker --creds starting',
      );
      const base = ['run', '-F', tf.sshConfigPath, '-w', 'h[01-04]', '--gather', '--nats', nats.url];
      const ok = await fleetsh([...base, '--nats-creds', auth.creds.user, '--', 'echo whole'], {
        env,
        timeoutMs: 90_000,
      });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /4 ok/);
      assert.match(ok.stdout, /whole/);

      const refused = await fleetsh([...base, '--', 'echo never'], { env, timeoutMs: 90_000 });
      assert.notEqual(refused.code, 0);
      assert.doesNotMatch(refused.stdout, /never/);
      assert.match(refused.stdout + refused.stderr, /4 unreachable/);
      assert.match(refused.stdout + refused.stderr, refusedBy());

      const lonely = await fleetsh(['worker', '--nats', nats.url], { timeoutMs: 60_000 });
      assert.notEqual(lonely.code, 0);
      assert.equal(lonely.signal, null, 'it exited by itself');
      assert.match(lonely.stderr, /fleetsh worker: /);
      assert.match(lonely.stderr, refusedBy());

      const stranger = await fleetsh(['worker', '--nats', nats.url, '--creds', auth.creds.unknownAccount], {
        timeoutMs: 60_000,
      });
      assert.notEqual(stranger.code, 0);
      assert.match(stranger.stderr, refusedBy());

      const shown = await fleetsh(['show', 'last'], { env });
      assert.equal(shown.code, 0, shown.stderr);
      const journalBytes = readdirSync(tmp.dir)
        .filter((f) => f.startsWith('journal.db'))
        .map((f) => readFileSync(join(tmp.dir, f), 'latin1'))
        .join('');
      for (const [what, text] of [
        ['the run with creds', ok.stdout + ok.stderr],
        ['the refused run', refused.stdout + refused.stderr],
        ['the refused worker', lonely.stderr + stranger.stderr],
        ['fleetsh show', shown.stdout + shown.stderr],
        ['the journal', journalBytes],
      ] as const)
        noSeed(text, what);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await settlesWithin(exited, 30_000, 'the worker stopping on SIGTERM');
      }
    }
    noSeed(workerErr, "the worker's messages");
  });
});
