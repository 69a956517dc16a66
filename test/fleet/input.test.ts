// The fleet's `stdin` option: the same input to every host, read once. Against real sshd: text,
// Buffers, a stream arriving slowly while the first hosts already read it and later hosts read it
// from the spool, a file, a command that reads none of it; the spool leaves nothing behind. With
// local shells: a retried host gets the input from the start, a source that fails stops the
// commands, and the boundary refuses what it cannot send.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { sshConnect } from '../../src/fleet/connect.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { sshFor } from '../ssh/helpers.js';
import { fakeFleet, makeDirs, type FakeFleet } from './helpers.js';

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
/** `size` bytes that differ from chunk to chunk, so a host that got them out of order would show it. */
const payload = (size: number) => {
  const out = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) out.writeUInt32LE(i, i);
  return out;
};

/** A stream of `data` in `pieces` pieces, `gapMs` apart: input still arriving while hosts read. */
function trickle(data: Buffer, pieces: number, gapMs: number): Readable {
  const size = Math.ceil(data.length / pieces);
  return Readable.from(
    (async function* () {
      for (let at = 0; at < data.length; at += size) {
        yield data.subarray(at, at + size);
        await new Promise((r) => setTimeout(r, gapMs));
      }
    })(),
  );
}

describe(
  'the stdin option against real sshd',
  { skip: !sshdAvailable() && 'OpenSSH sshd not installed' },
  () => {
    let tf: TestFleet;
    let ssh: SshFunction;
    let spoolDir: string;
    const savedTmp = process.env.TMPDIR;
    const targets = () => tf.healthy.map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath }));
    const sshFleet = (options: Parameters<typeof fleet>[1]) =>
      fleet(targets(), { connect: sshConnect(ssh), ...options });

    before(async () => {
      tf = await startFleet({ healthy: 4 });
      ssh = sshFor(tf);
      // Spools go to TMPDIR (os.tmpdir()): a private one shows whether anything is left there.
      spoolDir = mkdtempSync(join(tmpdir(), 'fleetsh-spool-test-'));
      process.env.TMPDIR = spoolDir;
    });
    after(async () => {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
      await ssh?.close();
      await tf?.stop();
      rmSync(spoolDir, { recursive: true, force: true });
    });

    test('text and a Buffer reach every host whole; each host sees its name in FLEETSH_HOST', async () => {
      const text = 'first line\nsecond line\n';
      const report = await sshFleet({ stdin: text }).run`cat; echo "[$FLEETSH_HOST]"`;
      assert.equal(report.counts.ok, 4, report.toText());
      for (const h of report.hosts) assert.equal(h.stdout, `${text}[${h.host}]\n`);
      const data = payload(3 * 1024 * 1024 + 7);
      const bytes = await sshFleet({ stdin: data }).run`sha256sum`;
      for (const h of bytes.hosts) assert.equal(h.stdout!.split(' ')[0], sha(data), h.host);
    });

    test('a stream still arriving: hosts started at once read it as it comes, later ones from the spool, all the same bytes', async () => {
      const data = payload(5 * 1024 * 1024);
      const started: number[] = [];
      // Two at a time: h03 and h04 start after the stream has ended and read the spool from the start.
      const run = sshFleet({ concurrency: 2, stdin: trickle(data, 20, 25) }).run`sha256sum`;
      run.on('server:start', () => started.push(performance.now()));
      const report = await run;
      assert.equal(report.counts.ok, 4, report.toText());
      for (const h of report.hosts) assert.equal(h.stdout!.split(' ')[0], sha(data), h.host);
      assert.ok(
        started[2]! - started[0]! >= 400,
        'the later hosts started after the stream (20 pieces, 25 ms apart)',
      );
      assert.deepEqual(readdirSync(spoolDir), [], 'the spool is unlinked as soon as it is made');
    });

    test('a file: opened once, every host reads all of it; a command that reads none of it still succeeds', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fleetsh-input-file-'));
      try {
        const file = join(dir, 'input.bin');
        const data = payload(2 * 1024 * 1024);
        writeFileSync(file, data);
        const report = await sshFleet({ stdin: { file } }).run`sha256sum`;
        for (const h of report.hosts) assert.equal(h.stdout!.split(' ')[0], sha(data), h.host);
        // A command that never reads its input ends as usual; the input's stream is closed with it.
        const big = trickle(payload(32 * 1024 * 1024), 64, 5);
        const quick = await sshFleet({ stdin: big }).run`echo done`;
        assert.equal(quick.counts.ok, 4, quick.toText());
        assert.ok(big.destroyed, 'the source stream is closed with the run');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);

describe('the stdin option, with local shells', () => {
  let f: FakeFleet;
  before(async () => {
    f = await fakeFleet({ flaky: { unreachable: { kind: 'refused', times: 1 } } });
    await makeDirs(f, ['a', 'b', 'flaky']);
  });
  after(() => f.cleanup());

  test('a host retried after it was unreachable gets the whole input from the start', async () => {
    const data = payload(1024 * 1024);
    const report = await fleet(['a', 'flaky'], {
      connect: f.connect,
      retries: { attempts: 2, on: 'unreachable', baseMs: 10 },
      stdin: trickle(data, 8, 10),
    }).run`sha256sum`;
    assert.equal(report.counts.ok, 2, report.toText());
    const flaky = report.hosts.find((h) => h.host === 'flaky')!;
    assert.equal(flaky.attempts.length, 2);
    for (const h of report.hosts) assert.equal(h.stdout!.split(' ')[0], sha(data), h.host);
  });

  test('a source that fails part way stops the commands: no host takes a cut input for a whole one', async () => {
    const failing = Readable.from(
      (async function* () {
        yield Buffer.from('the first part\n');
        await new Promise((r) => setTimeout(r, 100));
        throw new Error('EIO: the disk went away');
      })(),
    );
    const report = await fleet(['a', 'b'], { connect: f.connect, stdin: failing })
      .run`cat > /dev/null; echo complete`;
    assert.equal(report.counts.failed, 2, report.toText());
    for (const h of report.hosts) {
      assert.notEqual(h.stdout, 'complete\n');
      assert.match(
        h.error!,
        new RegExp(
          `^${h.host}: the input stream could not be read: EIO: the disk went away; its command was stopped`,
        ),
      );
    }
  });

  test('a spool that cannot be made fails the hosts with where and what to do', async () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = join(tmpdir(), 'fleetsh-no-such-folder-' + process.pid);
    try {
      const report = await fleet(['a'], { connect: f.connect, stdin: Readable.from(['x\n']) }).run`cat`;
      assert.equal(report.counts.failed, 1, report.toText());
      assert.match(
        report.hosts[0]!.error!,
        /^a: the input stream could not be kept for every host in \S+fleetsh-no-such-folder-\d+: no such file; set TMPDIR to a writable folder with room for it; its command was stopped$/,
      );
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  test('what cannot be sent is refused before anything runs', () => {
    const used = Readable.from(['x']);
    fleet(['a'], { connect: f.connect, stdin: used }).run`cat`;
    assert.throws(
      () => fleet(['a'], { connect: f.connect, stdin: used }).run`cat`,
      /this stream was already read/,
    );
    assert.throws(
      () => fleet(['a'], { connect: f.connect, stdin: { file: '/nonexistent/input' } }).run`cat`,
      /option stdin: cannot read \/nonexistent\/input: no such file/,
    );
    assert.throws(
      () => fleet(['a'], { connect: f.connect, stdin: { file: tmpdir() } }).run`cat`,
      /option stdin: cannot read .*: it is a directory/,
    );
    assert.throws(
      () => fleet(['a'], { connect: f.connect, stdin: 42 as never }),
      /option stdin: expected text/,
    );
    assert.throws(
      () => fleet(['a'], { connect: f.connect, stdin: 'x' }).script('/dev/null'),
      /the stdin option cannot be used with it/,
    );
  });

  test('.with({ stdin }) gives a fleet input; a Buffer or a file serves any number of runs', async () => {
    const base = fleet(['a', 'b'], { connect: f.connect });
    const withInput = base.with({ stdin: Buffer.from('same\n') });
    for (let i = 0; i < 2; i++) {
      const report = await withInput.run`cat`;
      assert.deepEqual(
        report.hosts.map((h) => h.stdout),
        ['same\n', 'same\n'],
      );
    }
    const none = await base.run`cat; echo end`;
    assert.deepEqual(
      none.hosts.map((h) => h.stdout),
      ['end\n', 'end\n'],
      'without the option a command gets no input',
    );
  });
});
