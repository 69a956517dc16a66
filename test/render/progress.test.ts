import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fleet as engineFleet } from '../../src/fleet/fleet.js';
import { fleet, rolling } from '../../src/index.js';
import { etaMs, renderBar, renderPlain } from '../../src/render/progress.js';
import { fakeFleet, makeDirs, names, type FakeFleet } from '../fleet/helpers.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(c, _e, cb) {
        chunks.push(c.toString());
        cb();
      },
    }),
    { isTTY, columns: 120 },
  );
  return { stream, text: () => chunks.join('') };
}

const state = {
  total: 40,
  done: 10,
  ok: 9,
  bad: 1,
  elapsedMs: 5000,
  running: [
    ['web11', 2100],
    ['web12', 400],
  ] as [string, number][],
  concurrency: 2,
};

describe('progress', () => {
  test('ETA is the average pace times what is left', () => {
    assert.equal(etaMs(state), 15_000);
    assert.equal(etaMs({ ...state, done: 0 }), undefined);
    assert.equal(etaMs({ ...state, done: 40 }), 0);
  });

  test('the terminal bar shows done/total, percent, ETA and the running hosts, longest first', () => {
    assert.equal(
      renderBar(state),
      '[#####...............] 10/40 25% ok 9 fail 1 ETA 15s | running: web11 2.1s web12 0.4s',
    );
    const narrow = renderBar(
      { ...state, running: names('web', 30).map((h) => [h, 1000] as [string, number]) },
      80,
    );
    assert.ok(narrow.length <= 80);
    assert.match(narrow, /\+\d+$/);
  });

  test('host names and the label are drawn with control characters escaped', () => {
    const bar = renderBar({ ...state, running: [['web\x1b]0;x\x07', 100]] }, 120);
    assert.match(bar, /running: web\\x1b\]0;x\\x07 0\.1s$/);
    assert.match(renderPlain(state, 'run \rx'), /^run \\rx: 10\/40/);
  });

  test('plain lines elsewhere', () => {
    assert.equal(
      renderPlain(state),
      'fleet: 10/40 (25.0%) done, 9 ok, 1 not ok, 2 running, elapsed 5 s, ETA 15 s',
    );
  });

  describe('attached to a run by the `progress` option', () => {
    let f: FakeFleet;
    before(async () => {
      f = await fakeFleet();
      await makeDirs(f, names('h', 6));
    });
    after(() => f.cleanup());

    test('redraws one line on a terminal and ends with a summary line', async () => {
      const s = sink(true);
      await fleet(names('h', 6), {
        connect: f.connect,
        concurrency: 2,
        progress: { stream: s.stream, intervalMs: 20 },
      }).run`sleep 0.1`;
      const text = s.text();
      assert.match(text, /\r\x1b\[K\[[#.]{20}\] \d\/6/);
      assert.match(text, /running: h\d/);
      assert.match(text, /fleet: 6\/6 \(100\.0%\) done, 6 ok, 0 not ok, 0 running/);
    });

    test('prints periodic plain lines when not a terminal', async () => {
      const s = sink(false);
      await fleet(names('h', 6), {
        connect: f.connect,
        concurrency: 2,
        progress: { stream: s.stream, intervalMs: 50 },
      }).run`sleep 0.1`;
      const lines = s.text().trim().split('\n');
      assert.ok(lines.length >= 2);
      assert.ok(lines.every((l) => l.startsWith('fleet: ')));
      assert.doesNotMatch(s.text(), /\x1b/);
    });

    test('draws each batch of a rolling deployment', async () => {
      const s = sink(false);
      const report = await rolling({
        connect: f.connect,
        phases: [{ name: 'web', targets: names('h', 3), command: 'true', batches: [1, 2] }],
        progress: { stream: s.stream, label: 'deploy' },
      });
      assert.equal(report.ok, true);
      // One summary line per batch, none for the deployment as a whole.
      assert.match(
        s.text(),
        /^deploy: 1\/1 \(100\.0%\) done, 1 ok[^\n]*\ndeploy: 2\/2 \(100\.0%\) done, 2 ok[^\n]*\n$/,
      );
    });

    test("the engine alone draws nothing: the option is the entry point's", async () => {
      const s = sink(true);
      const report = await engineFleet(names('h', 2), {
        connect: f.connect,
        progress: { stream: s.stream, intervalMs: 20 },
      }).run`true`;
      assert.equal(report.counts.ok, 2);
      assert.equal(s.text(), '');
    });
  });
});
