// Scale-out through NATS JetStream against a real nats-server and real OpenSSH hosts: one run
// spread over three workers in two zones gives the single controller's report; a worker killed
// mid-run loses no host and runs none twice; a budget stops every zone; a zone without a live
// worker is unreachable with kind no-worker; a cancel kills the remote commands; NATS restarting
// mid-run is survived; no job message carries a secret.
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $, startWorker, type Worker } from '../../src/index.js';
import type { FleetReport } from '../../src/fleet/report.js';
import type { ServerObject } from '../../src/fleet/target.js';
import { loadNats } from '../../src/scale-out/nats.js';
import { parseInventory } from '../../src/inventory/inventory.js';
import { namesFor } from '../../src/scale-out/wire.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { natsAvailable, startNats, type TestNats } from '../harness/nats.js';
import { settlesWithin } from '../harness/settle.js';
import { CLI, ensureBuilt } from '../cli/helpers.js';

const children = new Set<ChildProcess>();

const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') || (!natsAvailable() && 'nats-server not installed');
let tf: TestFleet;
let nats: TestNats;
let script: string;
let counts: string;

// Short intervals so that a dead worker is seen within seconds; generous bounds everywhere else.
const HEARTBEAT = '500ms';
const ACK_WAIT = '4s';

before(async () => {
  if (skip) return;
  ensureBuilt();
  [tf, nats] = await Promise.all([startFleet({ healthy: 12 }), startNats()]);
  counts = join(tf.dir, 'runs');
  execFileSync('mkdir', ['-p', counts]);
  // Counts each run of a host in a file named after its address, sleeps $1, says where it ran.
  script = join(tf.dir, 'count.sh');
  await writeFile(
    script,
    '#!/bin/sh\naddr=$(echo "$SSH_CONNECTION" | cut -d" " -f3)\necho run >> "$RUNS/$addr"\n' +
      'sleep "${1:-0}"\necho "ran on a host"\necho "note" >&2\nexit "${CODE:-0}"\n',
  );
  await chmod(script, 0o755);
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await $.close();
  await Promise.all([tf?.stop(), nats?.stop()]);
});

/** Hosts 1-6 in zone a, 7-12 in zone b; each target reads the harness's ssh_config (on the worker). */
function targets(code: (i: number) => number = () => 0): ServerObject[] {
  return tf.healthy.map((h, i) => ({
    host: h.name,
    sshConfig: tf.sshConfigPath,
    zone: i < 6 ? 'a' : 'b',
    env: { RUNS: counts, CODE: String(code(i)) },
  }));
}

const natsOption = (extra: object = {}) => ({
  servers: nats.url,
  workerWait: '3s',
  ackWait: ACK_WAIT,
  ...extra,
});

async function workers(
  spec: Array<{ zone: string; concurrency?: number }>,
  prefix?: string,
): Promise<Worker[]> {
  return Promise.all(
    spec.map((s) =>
      startWorker({
        servers: nats.url,
        zone: s.zone,
        concurrency: s.concurrency ?? 4,
        heartbeat: HEARTBEAT,
        ackWait: ACK_WAIT,
        prefix,
      }),
    ),
  );
}

/** `fleetsh worker` as a child process (for SIGKILL); resolves once it says it is ready. */
async function workerProcess(zone: string, concurrency = 4): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'worker',
      '--nats',
      nats.url,
      '--zone',
      zone,
      '--concurrency',
      String(concurrency),
      '--heartbeat',
      HEARTBEAT,
      '--ack-wait',
      ACK_WAIT,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  let err = '';
  await settlesWithin(
    new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/ ready: zone /.test(err)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`fleetsh worker exited (${code}): ${err}`)));
    }),
    60_000,
    'fleetsh worker start',
  );
  return child;
}

async function waitUntil(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function runCounts(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const f of await readdir(counts))
    out.set(f, (await readFile(join(counts, f), 'utf8')).trim().split('\n').length);
  return out;
}

async function clearCounts(): Promise<void> {
  execFileSync('sh', ['-c', `rm -f ${counts}/*`]);
}

/** A report's data without its timings: what must be the same through workers and directly. */
function data(report: FleetReport): unknown {
  const j = report.toJSON();
  return {
    command: j.command,
    stopped: j.stopped,
    counts: j.counts,
    sets: j.sets,
    groups: j.groups,
    hosts: j.hosts.map((h) => ({
      host: h.host,
      index: h.index,
      status: h.status,
      kind: h.kind,
      exitCode: h.exitCode,
      signal: h.signal,
      stdout: h.stdout,
      stderr: h.stderr,
      error: h.error,
      reason: h.reason,
      attempts: h.attempts.length,
    })),
  };
}

describe('scale-out through NATS JetStream', { skip }, () => {
  test('a run over three workers in two zones gives the report a single controller gives', async () => {
    const ws = await workers([{ zone: 'a' }, { zone: 'a' }, { zone: 'b' }]);
    try {
      await clearCounts();
      const code = (i: number) => (i % 5 === 4 ? 3 : 0);
      const through = await settlesWithin(
        $.fleet(targets(code), { concurrency: 6, nats: natsOption() }).run`${script} 0`,
        120_000,
        'the run through workers',
      );
      const counted = await runCounts();
      assert.equal(counted.size, 12, through.toText());
      assert.ok(
        [...counted.values()].every((n) => n === 1),
        'each once',
      );
      const direct = await $.fleet(
        targets(code).map(({ zone: _z, ...t }) => t),
        { concurrency: 6 },
      ).run`${script} 0`;
      assert.deepEqual(data(through), data(direct));
      assert.equal(through.counts.ok, 10, through.toText());
      assert.equal(through.counts.failed, 2);
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });
  test('a worker killed with SIGKILL mid-run loses no host and runs none twice: its hosts are interrupted', async () => {
    const killed = await workerProcess('a');
    const ws = await workers([{ zone: 'a', concurrency: 2 }, { zone: 'b' }]);
    try {
      await clearCounts();
      // Only the killed worker's slots first: it takes four of zone a's six hosts.
      const run = $.fleet(targets(), { concurrency: 12, nats: natsOption() }).run`${script} 4`;
      await waitUntil(async () => (await runCounts()).size >= 8, 60_000, 'eight hosts running');
      process.kill(killed.pid!, 'SIGKILL');
      const report = await settlesWithin(run, 120_000, 'the run after a worker died');
      const counted = await runCounts();
      assert.equal(report.counts.total, 12);
      assert.ok(
        [...counted.values()].every((n) => n === 1),
        `no host ran twice: ${[...counted]}`,
      );
      const interrupted = report.hosts.filter((h) => h.kind === 'cancelled');
      assert.ok(interrupted.length >= 1, report.toText());
      // Every other host ran once. An interrupted host ran at most once: the worker may have died
      // before its command began (the run counts each host's runs by its address).
      const addressOf = new Map(tf.healthy.map((h) => [h.name, h.address]));
      for (const h of report.hosts)
        if (h.kind !== 'cancelled')
          assert.equal(counted.get(addressOf.get(h.host)!), 1, `${h.host} ran once\n${report.toText()}`);
      assert.ok(counted.size >= 12 - interrupted.length, report.toText());
      for (const h of interrupted) {
        assert.equal(h.status, 'failed');
        assert.match(h.error!, /interrupted: worker .* stopped heartbeating .*fleetsh resume decides/);
      }
      assert.equal(report.counts.ok + interrupted.length, 12, report.toText());
    } finally {
      killed.kill('SIGKILL');
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test('the failure budget stops every zone: hosts not started in either zone are skipped', async () => {
    const ws = await workers([{ zone: 'a' }, { zone: 'a' }, { zone: 'b' }]);
    try {
      await clearCounts();
      // Zones alternate a, b, a, b ...; the fourth host (zone b) fails at once.
      const alternate = targets((i) => (i === 3 ? 3 : 0)).map((t, i) => ({ ...t, zone: i % 2 ? 'b' : 'a' }));
      const report = await settlesWithin(
        $.fleet(alternate, { concurrency: 4, maxFailures: 0, nats: natsOption() }).run`${script} 2`,
        120_000,
        'the run',
      );
      assert.ok(report.stopped, report.toText());
      const skipped = report.hosts.filter((h) => h.status === 'skipped');
      assert.ok(skipped.length >= 4, report.toText());
      const zones = new Set(skipped.map((h) => alternate.find((t) => t.host === h.host)!.zone));
      assert.deepEqual([...zones].sort(), ['a', 'b'], 'skipped in both zones');
      assert.equal((await runCounts()).size, 12 - skipped.length, 'skipped hosts never ran');
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test('a zone with no live worker: its hosts are unreachable with kind no-worker, the others run', async () => {
    const ws = await workers([{ zone: 'a' }]);
    try {
      const t0 = Date.now();
      const report = await settlesWithin(
        $.fleet(targets(), { concurrency: 12, nats: natsOption() }).run`true`,
        60_000,
        'the run',
      );
      assert.equal(report.counts.ok, 6, report.toText());
      assert.equal(report.counts.unreachable, 6);
      for (const h of report.hosts.slice(6)) {
        assert.equal(h.kind, 'no-worker');
        assert.match(h.error!, /no live fleetsh worker in its zone: no fleetsh worker of zone "b"/);
      }
      assert.match(report.toText(), /fleetsh worker --nats URL --zone b/);
      assert.ok(Date.now() - t0 < 30_000, 'bounded by workerWait, not a hang');
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test('a worker under another prefix (another team or account) takes none of these jobs', async () => {
    const ws = await workers([{ zone: 'a' }], 'team2');
    try {
      const report = await settlesWithin(
        $.fleet(targets().slice(0, 2), { nats: natsOption() }).run`true`,
        60_000,
        'the run',
      );
      assert.deepEqual(
        report.hosts.map((h) => h.kind),
        ['no-worker', 'no-worker'],
        report.toText(),
      );
      const team2 = await $.fleet(targets().slice(0, 2), { nats: natsOption({ prefix: 'team2' }) }).run`true`;
      assert.equal(team2.counts.ok, 2, team2.toText());
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test('cancelling the run reaches the workers: the remote commands are killed', async () => {
    const ws = await workers([{ zone: 'a' }, { zone: 'b' }]);
    const marker = `${700 + Math.floor(Math.random() * 200)}.${process.pid % 1000}`;
    const remote = () => {
      const r = spawnSync('pgrep', ['-f', `sleep ${marker}`], { encoding: 'utf8' });
      return r.stdout.trim() === '' ? 0 : r.stdout.trim().split('\n').length;
    };
    try {
      const some = [...targets().slice(0, 2), ...targets().slice(6, 8)];
      const run = $.fleet(some, { concurrency: 4, nats: natsOption() }).run`sleep ${marker}`;
      await waitUntil(() => remote() >= 4, 60_000, 'four remote sleeps');
      run.cancel();
      const report = await settlesWithin(run, 60_000, 'the cancelled run');
      assert.equal(report.counts.total, 4);
      for (const h of report.hosts) assert.equal(h.kind, 'cancelled', report.toText());
      await waitUntil(() => remote() === 0, 30_000, 'the remote sleeps killed');
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test('NATS restarting mid-run (kill -9, then up again on its store) is survived: every host once, every report there', async () => {
    const ws = await workers([{ zone: 'a' }, { zone: 'a' }, { zone: 'b' }]);
    try {
      await clearCounts();
      const run = $.fleet(targets(), { concurrency: 12, nats: natsOption() }).run`${script} 3`;
      await waitUntil(async () => (await runCounts()).size >= 6, 60_000, 'hosts running');
      await nats.kill();
      await sleep(1000);
      await nats.restart();
      const report = await settlesWithin(run, 120_000, 'the run across a NATS restart');
      const counted = await runCounts();
      assert.ok(
        [...counted.values()].every((n) => n === 1),
        `no host ran twice: ${[...counted]}`,
      );
      assert.equal(report.counts.total, 12);
      // Either the run went on (ok) or a host says clearly what happened to it.
      for (const h of report.hosts)
        if (h.status !== 'ok') assert.match(h.error ?? '', /NATS|worker|interrupted/, report.toText());
      assert.ok(report.counts.ok >= 6, report.toText());
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test('no job message carries a secret: hosts with a password and a sudo password are refused', async () => {
    const ws = await workers([{ zone: 'a' }]);
    const { transport } = loadNats();
    const spy = await transport.connect({ servers: nats.url });
    const seen: string[] = [];
    spy.subscribe(`${namesFor().jobSubject('>').replace('.>', '')}.>`, {
      callback: (_e, m) => {
        seen.push(m.string());
      },
    });
    await spy.flush();
    try {
      const [plain, withPassword] = targets().slice(0, 2);
      const report = await $.fleet([plain!, { ...withPassword!, password: 'hunter2-secret' }], {
        nats: natsOption(),
      }).run`true`;
      assert.equal(report.hosts.find((h) => h.host === plain!.host)!.status, 'ok', report.toText());
      const refused = report.hosts.find((h) => h.host === withPassword!.host)!;
      assert.equal(refused.kind, 'usage');
      assert.match(refused.error!, /its settings hold a password, which is never sent to a fleetsh worker/);
      const sudo = await $.fleet([plain!], { nats: natsOption(), sudo: { password: 'sudo-secret' } })
        .run`true`;
      assert.equal(sudo.hosts[0]!.kind, 'usage');
      assert.match(sudo.hosts[0]!.error!, /a sudo password is never sent to a fleetsh worker/);
      await spy.flush();
      assert.ok(seen.length >= 1, 'the job of the plain host was seen');
      for (const m of seen) assert.doesNotMatch(m, /hunter2|sudo-secret|password/);
    } finally {
      await spy.close();
      await Promise.all(ws.map((w) => w.stop()));
    }
  });
  test("the inventory's zone: routes each host to its zone's workers", async () => {
    const ws = await workers([{ zone: 'b' }]);
    try {
      const inventory = parseInventory(`groups:\n  far: { hosts: '${tf.healthy[0]!.name}', zone: b }\n`);
      const plain = targets()
        .slice(0, 3)
        .map(({ zone: _z, ...t }) => t);
      const report = await settlesWithin(
        $.fleet(plain, { inventory, nats: natsOption() }).run`true`,
        60_000,
        'the run',
      );
      assert.equal(report.hosts[0]!.status, 'ok', report.toText());
      for (const h of report.hosts.slice(1)) {
        assert.equal(h.kind, 'no-worker');
        assert.match(h.error!, /zone "default"/);
      }
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });
  test('a rolling deployment through workers gives the report a single controller gives, budget and batches included', async () => {
    const ws = await workers([{ zone: 'a' }, { zone: 'a' }, { zone: 'b' }]);
    try {
      // The fifth host fails its deploy: with maxFailures 0 the deployment stops after its batch.
      const code = (i: number) => (i === 4 ? 3 : 0);
      const through = await settlesWithin(
        $.rolling({
          phases: [{ name: 'deploy', targets: targets(code), command: `${script} 0` }],
          batches: [1, 3, '50%'],
          healthCheck: 'true',
          maxFailures: 0,
          nats: natsOption(),
        }),
        120_000,
        'the deployment through workers',
      );
      const direct = await settlesWithin(
        $.rolling({
          phases: [
            { name: 'deploy', targets: targets(code).map(({ zone: _z, ...t }) => t), command: `${script} 0` },
          ],
          batches: [1, 3, '50%'],
          healthCheck: 'true',
          maxFailures: 0,
        }),
        120_000,
        'the deployment from here',
      );
      const shape = (r: typeof through) => ({
        ok: r.ok,
        stopped: r.stopped,
        done: r.done,
        failed: r.failed,
        notDone: r.notDone,
        phases: r.phases.map((p) => ({
          name: p.name,
          status: p.status,
          batches: p.batches.map((b) => ({ number: b.number, hosts: b.hosts, counts: b.report.counts })),
          report: data(p.report),
        })),
      });
      assert.deepEqual(shape(through), shape(direct));
      assert.ok(through.stopped, through.toText());
      assert.equal(through.failed.length, 1);
      assert.equal(through.notDone.length, 2, through.toText());
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });
  test("a zone's last worker stopping: its running job is killed and reported, its queued ones leave the queue as no-worker", async () => {
    const [only] = await workers([{ zone: 'b', concurrency: 1 }]);
    try {
      await clearCounts();
      const three = targets().slice(6, 9);
      const run = $.fleet(three, { concurrency: 3, nats: natsOption() }).run`${script} 30`;
      await waitUntil(async () => (await runCounts()).size >= 1, 60_000, 'the first host running');
      await only!.stop();
      const report = await settlesWithin(run, 60_000, 'the run after its zone lost its worker');
      assert.equal((await runCounts()).size, 1, 'the queued hosts never ran');
      const kinds = report.hosts.map((h) => h.kind).sort();
      assert.deepEqual(kinds, ['failed', 'no-worker', 'no-worker'], report.toText());
      assert.match(report.toText(), /killed by signal|signal/i);
    } finally {
      await only!.stop();
    }
  });

  test('a malformed event from a worker fails its host as a protocol error; the run goes on', async () => {
    const ws = await workers([{ zone: 'a' }]);
    const { transport, jetstream } = loadNats();
    const spy = await transport.connect({ servers: nats.url });
    try {
      const names = namesFor();
      const js = jetstream.jetstream(spy);
      spy.subscribe(names.jobSubject('a'), {
        callback: (_e, m) => {
          const job = JSON.parse(m.string()) as { coord: string; job: string; command: string };
          if (job.command.includes('sleep 7'))
            void js.publish(names.eventSubject(job.coord, job.job), Buffer.from('d{not json'));
        },
      });
      await spy.flush();
      const [one, two] = targets().slice(0, 2);
      const report = await settlesWithin(
        $.fleet([one!], { nats: natsOption() }).run`sleep 7`,
        60_000,
        'the run with a forged event',
      );
      assert.equal(report.hosts[0]!.kind, 'protocol', report.toText());
      assert.match(report.hosts[0]!.error!, /sent a malformed event/);
      const after = await $.fleet([two!], { nats: natsOption() }).run`echo fine`;
      assert.equal(after.counts.ok, 1, after.toText());
    } finally {
      await spy.close();
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test("a command's input goes with its job (up to 512 KiB); more is refused with a message saying so", async () => {
    const ws = await workers([{ zone: 'a' }]);
    try {
      const [one] = targets();
      const small = await $.fleet([one!], { nats: natsOption(), stdin: 'through the queue\n' }).run`cat`;
      assert.equal(small.hosts[0]!.stdout, 'through the queue\n', small.toText());
      const big = await $.fleet([one!], { nats: natsOption(), stdin: Buffer.alloc(600 * 1024) }).run`cat`;
      assert.equal(big.hosts[0]!.kind, 'usage');
      assert.match(big.hosts[0]!.error!, /input is over 512 KiB, the most a job through NATS carries/);
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test("a job whose coordinator is gone is never run: the worker's claim finds nobody and drops it", async () => {
    const ws = await workers([{ zone: 'a' }]);
    const { transport, jetstream } = loadNats();
    const nc = await transport.connect({ servers: nats.url });
    try {
      const names = namesFor();
      const marker = join(counts, 'orphan');
      const job = {
        v: 1,
        coord: 'c0ffee00dead',
        job: 'j1',
        host: tf.healthy[0]!.name,
        target: { host: tf.healthy[0]!.name, sshConfig: tf.sshConfigPath },
        command: `touch ${marker}`,
      };
      await jetstream.jetstream(nc).publish(names.jobSubject('a'), JSON.stringify(job));
      const jsm = await jetstream.jetstreamManager(nc);
      await waitUntil(
        async () => {
          const info = await jsm.consumers.info(names.jobStream, names.jobConsumer('a'));
          return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.consumer_seq >= 1;
        },
        30_000,
        'the orphan job taken and dropped',
      );
      assert.equal((await jsm.streams.info(names.jobStream)).state.messages, 0, 'it left the queue');
      assert.equal(existsSync(marker), false, 'it never ran');
    } finally {
      await nc.close();
      await Promise.all(ws.map((w) => w.stop()));
    }
  });
});

describe(
  'scale-out over TLS',
  { skip: skip || (spawnSync('openssl', ['version']).status !== 0 && 'no openssl') },
  () => {
    test('workers and the coordinator reach a TLS-only NATS server with the CA file; without it the hosts fail clearly', async () => {
      const dir = join(tf.dir, 'tls');
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
      execFileSync('mkdir', ['-p', dir]);
      ssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-subj',
        '/CN=fleetsh test CA',
        '-days',
        '1',
      );
      ssl(
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'server.key',
        '-out',
        'server.csr',
        '-subj',
        '/CN=127.0.0.1',
      );
      await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      ssl(
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'server.pem',
        '-days',
        '1',
        '-extfile',
        'san.ext',
      );
      await using secure = await startNats({
        tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') },
      });
      assert.match(secure.url, /^tls:\/\//);
      const tls = { ca: join(dir, 'ca.pem') };
      const worker = await startWorker({ servers: secure.url, tls, zone: 'a', heartbeat: HEARTBEAT });
      try {
        const some = targets().slice(0, 2);
        const ok = await settlesWithin(
          $.fleet(some, { nats: { servers: secure.url, tls, workerWait: '10s' } }).run`echo over tls`,
          60_000,
          'the run over TLS',
        );
        assert.equal(ok.counts.ok, 2, ok.toText());
        const refused = await settlesWithin(
          $.fleet(some, { nats: { servers: secure.url } }).run`echo over tls`,
          60_000,
          'the run without the CA',
        );
        assert.equal(refused.counts.unreachable, 2, refused.toText());
        assert.match(refused.hosts[0]!.error!, /cannot connect to the NATS server tls:\/\/127\.0\.0\.1/);
      } finally {
        await worker.stop();
      }
    });
  },
);
