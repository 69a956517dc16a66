// Files through fleetsh workers, against a real nats-server and real OpenSSH hosts: a copy through
// three workers in two zones lands the file with its bytes and mode on every host (read back over
// SSH), gives the report a direct copy gives, and leaves nothing on the NATS server; a config sync
// goes through them too; a worker refuses a file whose SHA-256 is not the job's; a directory and a
// file over the limit are refused per host with a message saying so.
//
// The harness's hosts share this machine's disk, so each host's sshd runs its sessions in a folder
// of its own (named after the address it answers on): a relative destination is a different file
// on every host, and reading it back shows that host's copy.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $, startWorker, type Worker } from '../../src/index.js';
import type { FleetReport } from '../../src/fleet/report.js';
import { loadNats } from '../../src/scale-out/nats.js';
import { FILE_LIMIT, namesFor } from '../../src/scale-out/wire.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { natsAvailable, startNats, type TestNats } from '../harness/nats.js';
import { SFTP_SERVER, recorderAvailable } from '../harness/recorder.js';
import { settlesWithin } from '../harness/settle.js';

const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') ||
  (!natsAvailable() && 'nats-server not installed') ||
  (!recorderAvailable() && 'sftp-server not installed');

describe('copies through fleetsh workers (NATS JetStream)', { skip }, () => {
  let work: string;
  let roots: string;
  let tf: TestFleet;
  let nats: TestNats;
  let ws: Worker[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fleetsh-nats-copy-'));
    roots = join(work, 'hosts');
    mkdirSync(roots);
    // Every session starts in ROOTS/<the address the host answers on>: SFTP (sftp-server -d) and commands.
    const wrapper = join(work, 'per-host.sh');
    writeFileSync(
      wrapper,
      `#!/bin/sh
root=${roots}/$(echo "$SSH_CONNECTION" | cut -d" " -f3)
mkdir -p "$root" && cd "$root" || exit 1
case "$SSH_ORIGINAL_COMMAND" in
  ${SFTP_SERVER}) exec ${SFTP_SERVER} -d "$root" ;;
  *) exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;
esac
`,
    );
    chmodSync(wrapper, 0o755);
    [tf, nats] = await Promise.all([
      startFleet({ healthy: 4, extraSshdConfig: `Subsystem sftp ${SFTP_SERVER}\nForceCommand ${wrapper}` }),
      startNats(),
    ]);
    ws = await Promise.all(
      ['a', 'a', 'b'].map((zone) =>
        startWorker({ servers: nats.url, zone, concurrency: 4, heartbeat: '500ms', ackWait: '4s' }),
      ),
    );
  });
  after(async () => {
    await Promise.all(ws.map((w) => w.stop()));
    await $.close();
    await Promise.all([tf?.stop(), nats?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Hosts 1-2 in zone a, 3-4 in zone b; each target reads the harness's ssh_config (on the worker). */
  const targets = () =>
    tf.healthy.map((h, i) => ({ host: h.name, sshConfig: tf.sshConfigPath, zone: i < 2 ? 'a' : 'b' }));
  const direct = () => targets().map(({ zone: _z, ...t }) => t);
  const nats_ = () => ({ servers: nats.url, workerWait: '3s' });

  /** What each host has at `rel` (its folder), read over SSH: SHA-256 and mode, one line a host. */
  async function readBack(rel: string): Promise<string[]> {
    const r = await $.fleet(direct())
      .run`printf '%s %s\n' "$(sha256sum < ${rel} | cut -d' ' -f1)" "$(stat -c %a ${rel})"`;
    assert.equal(r.counts.ok, 4, r.toText());
    return r.hosts.map((h) => (h.stdout ?? '').trim());
  }

  function data(report: FleetReport): unknown {
    const j = report.toJSON();
    return {
      command: j.command,
      counts: j.counts,
      hosts: j.hosts.map((h) => ({ host: h.host, status: h.status, kind: h.kind, error: h.error })),
      values: report.hosts.map((h) => h.value),
    };
  }

  async function filesOnNats(): Promise<number> {
    const { transport, jetstream } = loadNats();
    const nc = await transport.connect({ servers: nats.url });
    try {
      const jsm = await jetstream.jetstreamManager(nc);
      const info = await jsm.streams.info(namesFor().fileStream);
      return info.state.messages;
    } finally {
      await nc.close();
    }
  }

  test('a file (several NATS messages) lands on every host with its bytes and mode, reported as a direct copy reports it', async () => {
    const src = join(work, 'payload.bin');
    const bytes = randomBytes(1024 * 1024 + 12345); // 5 messages of at most 256 KiB
    await writeFile(src, bytes);
    const sha = execFileSync('sha256sum', [src]).toString().split(' ')[0]!;

    const through = await settlesWithin(
      $.fleet(targets(), { nats: nats_() }).upload(src, 'through/conf/payload.bin', {
        mode: 0o640,
        verify: true,
      }),
      120_000,
      'the copy through workers',
    );
    assert.equal(through.counts.ok, 4, through.toText());
    assert.deepEqual(await readBack('through/conf/payload.bin'), Array(4).fill(`${sha} 640`));
    // Four copies, one per host folder, none left over (no temporary file beside it).
    const hostDirs = await readdir(roots);
    assert.equal(hostDirs.length, 4);
    for (const d of hostDirs) {
      assert.deepEqual(await readdir(join(roots, d, 'through', 'conf')), ['payload.bin']);
      assert.ok((await readFile(join(roots, d, 'through', 'conf', 'payload.bin'))).equals(bytes));
    }

    const straight = await $.fleet(direct()).upload(src, 'through/conf/payload.bin', {
      mode: 0o640,
      verify: true,
    });
    assert.deepEqual(data(through), data(straight));

    // The file's messages are gone from the NATS server once the run is over.
    const end = Date.now() + 30_000;
    let left = await filesOnNats();
    while (left > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      left = await filesOnNats();
    }
    assert.equal(left, 0, 'the stored file is deleted when the run ends');
  });

  test("the mode 'preserve' (the default) gives each host the source's mode; an empty file travels too", async () => {
    const src = join(work, 'run.sh');
    await writeFile(src, '#!/bin/sh\necho hi\n');
    chmodSync(src, 0o751);
    const empty = join(work, 'empty');
    await writeFile(empty, '');
    const r = await $.fleet(targets(), { nats: nats_() }).upload(src, 'preserve/run.sh');
    assert.equal(r.counts.ok, 4, r.toText());
    const sha = execFileSync('sha256sum', [src]).toString().split(' ')[0]!;
    assert.deepEqual(await readBack('preserve/run.sh'), Array(4).fill(`${sha} 751`));
    const e = await $.fleet(targets(), { nats: nats_() }).upload(empty, 'preserve/empty', { mode: 0o600 });
    assert.equal(e.counts.ok, 4, e.toText());
    for (const d of await readdir(roots))
      assert.equal((await stat(join(roots, d, 'preserve', 'empty'))).size, 0);
  });

  test('a config sync through workers: changed hosts get the file, backup kept, validate and reload run; unchanged ones are left alone', async () => {
    const src = join(work, 'app.conf');
    await writeFile(src, 'setting = 2\n');
    // Host 1 already has it; hosts 2-4 have an older one.
    const dirs = (await readdir(roots)).sort();
    for (const [i, d] of dirs.entries()) {
      mkdirSync(join(roots, d, 'sync'), { recursive: true });
      writeFileSync(join(roots, d, 'sync', 'app.conf'), i === 0 ? 'setting = 2\n' : 'setting = 1\n');
    }
    const r = await $.fleet(targets(), { nats: nats_() }).syncConfig({
      files: { local: src, remote: 'sync/app.conf' },
      validate: 'grep -q "setting = 2" sync/app.conf',
      reload: 'touch sync/reloaded',
      verify: true,
    });
    assert.equal(r.counts.ok, 4, r.toText());
    assert.deepEqual(r.hosts.map((h) => h.value!.files[0]!.status).sort(), [
      'unchanged',
      'updated',
      'updated',
      'updated',
    ]);
    for (const [i, d] of dirs.entries()) {
      assert.equal(await readFile(join(roots, d, 'sync', 'app.conf'), 'utf8'), 'setting = 2\n');
      const l = await readdir(join(roots, d, 'sync'));
      assert.equal(l.includes('reloaded'), i !== 0, `${d}: ${l.join(' ')}`);
      if (i !== 0)
        assert.equal(
          await readFile(join(roots, d, 'sync', 'app.conf.fleetsh-backup'), 'utf8'),
          'setting = 1\n',
        );
      else assert.ok(!l.includes('app.conf.fleetsh-backup'), `${d}: ${l.join(' ')}`);
    }
  });

  test('a directory is refused per host with a message saying so', async () => {
    const tree = join(work, 'tree');
    mkdirSync(tree, { recursive: true });
    await writeFile(join(tree, 'a'), 'A');
    const r = await $.fleet(targets(), { nats: nats_() }).upload(tree, 'tree');
    assert.equal(r.counts.failed, 4, r.toText());
    assert.ok(
      r.hosts.every(
        (h) =>
          h.kind === 'usage' && /a directory does not travel through fleetsh workers/.test(h.error ?? ''),
      ),
      r.toText(),
    );
  });

  test("a worker checks the file's SHA-256 before any host gets it: a file that does not match fails the host, and nothing is written", async () => {
    const { transport, jetstream } = loadNats();
    const nc = await transport.connect({ servers: nats.url });
    try {
      const names = namesFor();
      const coord = 'c0ffee00beef';
      // A coordinator of our own: says run to every claim.
      nc.subscribe(names.claim(coord), {
        callback: (_e, m) => {
          m.respond(JSON.stringify({ go: 'run' }));
        },
      });
      const js = jetstream.jetstream(nc);
      await js.publish(names.fileSubject(coord, 'f1'), Buffer.from('what NATS holds\n'));
      const host = tf.healthy[0]!.name;
      const job = {
        v: 1,
        coord,
        job: 'j1',
        host,
        target: { host, sshConfig: tf.sshConfigPath },
        command: '',
        upload: {
          file: 'f1',
          size: 16,
          sha256: createHash('sha256').update('what was meant!\n').digest('hex'),
          chunks: 1,
          remote: 'tampered/app.conf',
        },
      };
      const consumer = await js.consumers.get(names.eventStream, {
        filter_subjects: names.eventFilter(coord),
      });
      await js.publish(names.jobSubject('a'), JSON.stringify(job));
      const m = await settlesWithin(consumer.next({ expires: 60_000 }), 70_000, "the job's end");
      assert.ok(m, 'an end came back');
      assert.equal(m.data[0], 0x78, 'an error'); // EVENT.error
      const body = JSON.parse(Buffer.from(m.data.subarray(1)).toString()) as { error: { message: string } };
      assert.match(
        body.error.message,
        /the file read from NATS has SHA-256 [0-9a-f]{64}, not [0-9a-f]{64}: it was not copied/,
      );
      for (const d of await readdir(roots)) assert.ok(!(await readdir(join(roots, d))).includes('tampered'));
      await jetstream
        .jetstreamManager(nc)
        .then((jsm) =>
          Promise.all([
            jsm.streams.purge(names.fileStream, { filter: names.fileFilter(coord) }),
            jsm.streams.purge(names.eventStream, { filter: names.eventFilter(coord) }),
          ]),
        );
    } finally {
      await nc.close();
    }
  });

  test('a file over the limit is refused on every host with a message saying so; nothing is stored', async () => {
    // The earlier tests' files are deleted as their runs end, which a loaded machine may delay.
    const end = Date.now() + 15_000;
    while ((await filesOnNats()) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await filesOnNats(), 0, "the earlier tests' files are gone");
    const big = join(work, 'big.img');
    await writeFile(big, '');
    await truncate(big, FILE_LIMIT + 1); // sparse: no disk used
    const r = await $.fleet(targets(), { nats: nats_() }).upload(big, 'big/big.img');
    assert.equal(r.counts.ok, 0, r.toText());
    assert.equal(r.counts.failed, 4, r.toText());
    for (const h of r.hosts) {
      assert.equal(h.kind, 'usage', r.toText());
      assert.match(
        h.error ?? '',
        /is 67108865 bytes, over the 64 MiB a copy through fleetsh workers carries .*without the nats option/,
      );
    }
    assert.equal(await filesOnNats(), 0);
    for (const d of await readdir(roots))
      assert.deepEqual(await readdir(join(roots, d)).then((l) => l.includes('big')), false);
  });
});
