// Loud hosts against real OpenSSH servers: each host's output is kept once, up to the cap
// (`maxOutput`, default 1 MiB) with its `truncated` flag; every byte still reaches `server:data`;
// and the report's text is bounded whatever the hosts printed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { $ } from '../../src/index.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';

const MiB = 1024 * 1024;
/** What `seq 1 200000` prints: 1,288,895 bytes, past the 1 MiB cap. */
const SEQ = Array.from({ length: 200_000 }, (_, i) => i + 1).join('\n') + '\n';

describe('a fleet of loud hosts', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let tf: TestFleet;
  let targets: { host: string; sshConfig: string }[];

  before(async () => {
    tf = await startFleet({ healthy: 3 });
    targets = tf.healthy.map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath }));
  });
  after(async () => {
    await $.close();
    await tf?.stop();
  });

  test('each host keeps 1 MiB and says truncated; every byte reaches server:data; the text is bounded', async () => {
    const run = $.fleet(targets, { concurrency: 3, timeout: '60s' }).run`seq 1 200000`;
    const seen = new Map<string, number>();
    run.on('server:data', ({ server, stream, data }) => {
      if (stream === 'stdout') seen.set(server, (seen.get(server) ?? 0) + data.length);
    });
    const report = await run;
    assert.equal(report.counts.ok, 3, report.toText());
    for (const h of report.hosts) {
      assert.equal(h.truncated, true, h.host);
      assert.equal(h.stdout, SEQ.slice(0, MiB), `${h.host}: the first MiB, exactly`);
      assert.equal(seen.get(h.host), SEQ.length, `${h.host}: every byte in the events`);
    }
    assert.equal(report.groups.length, 1, 'one group: the same kept output');
    const g = report.groups[0]!;
    assert.equal(g.count, 3);
    assert.equal(g.truncated, true);
    const text = report.toText();
    assert.ok(text.length < 2_000, `bounded: ${text.length} characters`);
    assert.match(
      text,
      /\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n… [\d,]+ more bytes \([\d,]+ more lines\), more was printed than is kept per host; full output: /,
    );
    const rest = Buffer.byteLength(SEQ.slice(0, MiB)) - Buffer.byteLength('1\n2\n3\n4\n5\n6\n7\n8\n9\n10');
    assert.ok(text.includes(`… ${rest.toLocaleString('en-US')} more bytes`), 'the bytes left, counted');
  });

  test('a 1 MiB line is one line: cut after 500 characters, with the bytes left', async () => {
    const report = await $.fleet(targets.slice(0, 1), { timeout: '60s' })
      .run`head -c ${MiB} /dev/zero | tr '\\0' x`;
    assert.equal(report.hosts[0]!.stdout!.length, MiB);
    assert.equal(report.hosts[0]!.truncated, false);
    const text = report.toText();
    assert.ok(
      text.includes(
        `\n${'x'.repeat(500)}\n… ${(MiB - 500).toLocaleString('en-US')} more bytes; full output: each host's stdout in report.hosts\n`,
      ),
      text.slice(0, 800),
    );
    assert.ok(text.length < 1_000);
  });
});
