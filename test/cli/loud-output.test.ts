// Loud hosts through `fleetsh run`: live lines printed once (the end does not print them again),
// the --gather summary bounded for a 1 MiB line and for many lines, with a note of what is left
// and where; --output-dir files complete and byte-exact while --json is capped and says truncated.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

const MiB = 1024 * 1024;
/** What `seq 1 200000` prints: 1,288,895 bytes, past the 1 MiB kept per host. */
const SEQ = Array.from({ length: 200_000 }, (_, i) => i + 1).join('\n') + '\n';
const count = (text: string, re: RegExp) => text.match(re)?.length ?? 0;

describe('fleetsh run with loud hosts', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  let conn: string[];
  /** h01 prints a line of 1 MiB with its line end, h02 `seq 1 3000`, h03 `seq 1 200000`. */
  const mixed = () => {
    const on = (name: string) => fleet.host(name).address;
    return (
      `case " $SSH_CONNECTION " in *" ${on('h01')} "*) head -c ${MiB - 1} /dev/zero | tr '\\0' x; echo;; ` +
      `*" ${on('h02')} "*) seq 1 3000;; *) seq 1 200000;; esac`
    );
  };

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3 });
    conn = ['-F', fleet.sshConfigPath, '--no-progress'];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('live lines: every line once, and the end of the run does not print them again', async () => {
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-03]', '--', 'seq 1 200000'], {
      env,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    for (const h of ['h01', 'h02', 'h03']) {
      assert.equal(count(r.stdout, new RegExp(`^${h}: +200000$`, 'gm')), 1, h);
      assert.equal(count(r.stdout, new RegExp(`^${h}: `, 'gm')), 200_000, `${h}: every line, once`);
    }
    assert.equal(count(r.stdout, /^200000$/gm), 0, 'no gathered output after the live lines');
    assert.match(r.stdout, /\n3 hosts: 3 ok in [^\n]*\n$/);
  });

  test('--gather: a 1 MiB line and many lines, each cut with a note of what is left and where', async () => {
    const r = await fleetsh(['run', ...conn, '-w', 'h[01-03]', '--gather', '--', mixed()], {
      env,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.length < 4_000, `bounded: ${r.stdout.length} characters`);
    assert.ok(
      r.stdout.includes(
        `\n${'x'.repeat(500)}\n… ${(MiB - 1 - 500).toLocaleString('en-US')} more bytes; full output: --output-dir DIR, or --json\n`,
      ),
      r.stdout,
    );
    const seq3000 = Array.from({ length: 3000 }, (_, i) => i + 1).join('\n');
    const left = Buffer.byteLength(seq3000) - '1\n2\n3\n4\n5\n6\n7\n8\n9\n10'.length;
    assert.match(
      r.stdout,
      new RegExp(
        `^h02 \\(1\\)\\n-+\\n1\\n2\\n3\\n4\\n5\\n6\\n7\\n8\\n9\\n10\\n… ${left.toLocaleString('en-US')} more bytes \\(2,990 more lines\\); full output: --output-dir DIR, or --json$`,
        'm',
      ),
    );
    assert.match(
      r.stdout,
      /^… [\d,]+ more bytes \([\d,]+ more lines\), more was printed than is kept per host; full output: --output-dir DIR \(more than --json keeps\)$/m,
    );
  });

  test('--output-dir: files complete and byte-exact while --json keeps 1 MiB and says truncated', async () => {
    const dir = join(tmp.dir, 'out');
    const r = await fleetsh(
      ['run', ...conn, '-w', 'h03', '--json', '--output-dir', dir, '--', 'seq 1 200000'],
      {
        env,
        timeoutMs: 60_000,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const h = JSON.parse(r.stdout).hosts[0];
    assert.equal(h.truncated, true);
    assert.equal(h.stdout, SEQ.slice(0, MiB));
    assert.equal(readFileSync(join(dir, 'h03.out'), 'utf8'), SEQ, 'the file has every byte');

    const g = await fleetsh(
      ['run', ...conn, '-w', 'h03', '--gather', '--output-dir', dir, '--', 'seq 1 200000'],
      {
        env,
        timeoutMs: 60_000,
      },
    );
    assert.equal(g.code, 0, g.stderr);
    assert.ok(g.stdout.includes(`; full output: ${join(dir, 'h03.out')}\n`), g.stdout);
    assert.equal(readFileSync(join(dir, 'h03.out'), 'utf8'), SEQ);
  });
});
