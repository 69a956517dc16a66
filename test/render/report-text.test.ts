// The report renderers: how long outputs and many distinct failures are cut, the interrupted
// summary, --raw, a deployment of several phases, and the end of a copy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { skippedResult } from '../../src/fleet/host-result.js';
import { FleetReport } from '../../src/fleet/report.js';
import { RollingReport } from '../../src/fleet/rolling-report.js';
import { copyText } from '../../src/cli/render/copy.js';
import { palette, plain } from '../../src/render/palette.js';
import { reportText } from '../../src/render/report-text.js';
import { rollingText } from '../../src/render/rolling-text.js';
import { hostResult as host } from '../fleet/helpers.js';

const meta = { command: null, startedAt: new Date(0), wallMs: 1_000, stopped: null, peakConcurrency: 1 };

describe('reportText', () => {
  test('a long output is cut after 10 lines, with how much more there was and where it is', () => {
    const lines = Array.from({ length: 45 }, (_, i) => `line ${i + 1}`);
    const report = new FleetReport([host('web1', 0, { stdout: lines.join('\n') + '\n' })], meta);
    const text = reportText(report, plain);
    const rest = Buffer.byteLength('\n' + lines.slice(10).join('\n'));
    assert.match(
      text,
      new RegExp(
        `\\nline 10\\n… ${rest} more bytes \\(35 more lines\\); full output: each host's stdout in report.hosts\\n`,
      ),
    );
    assert.doesNotMatch(text, /line 11/);
    assert.match(
      reportText(report, plain, { maxGroupLines: 2 }),
      /\nline 2\n… \d+ more bytes \(43 more lines\);/,
    );
    assert.match(
      reportText(report, plain, { fullOutput: (g) => `out/${g.hostList[0]}.out` }),
      /\(35 more lines\); full output: out\/web1\.out\n/,
    );
    const short = new FleetReport([host('web1', 0, { stdout: 'one\ntwo\n' })], meta);
    assert.match(reportText(short, plain), /\none\ntwo\n1 host: /, 'a short output whole, without a note');
  });

  test('a 1 MiB line is one line, cut after 500 characters; a truncated output says more was printed', () => {
    const line = 'x'.repeat(1024 * 1024);
    const report = new FleetReport(
      [host('web1', 0, { stdout: line + '\n', truncated: true }), host('web2', 1, { stdout: line + '\n' })],
      meta,
    );
    const text = reportText(report, plain);
    assert.ok(text.length < 2_000, `bounded: ${text.length} characters`);
    assert.match(text, /^web\[1-2\] \(2\)$/m, 'one group for two hosts with the same output');
    assert.match(
      text,
      new RegExp(
        `^x{500}\n… 1,048,076 more bytes, more was printed than is kept per host; full output: `,
        'm',
      ),
    );
    assert.equal(report.groups[0]!.truncated, true);
  });

  test('near-identical variants: ten listed, then how many more', () => {
    const hosts = Array.from({ length: 13 }, (_, i) => host(`web${i + 1}`, i, { stdout: `load ${i}\n` }));
    const text = reportText(new FleetReport(hosts, meta), plain);
    assert.match(text, /^web\[1-13\] \(13\) similar\n-+\nload \{n\}$/m);
    assert.match(text, /^  web10: 9\n  … and 3 more variants$/m);
  });

  test('ten messages per kind, then how many more', () => {
    const hosts = Array.from({ length: 12 }, (_, i) =>
      host(`web${i + 1}`, i, {
        status: 'failed',
        success: false,
        kind: 'failed',
        error: `web${i + 1}: command exited with code ${i + 1}: false`,
      }),
    );
    const text = reportText(new FleetReport(hosts, meta), plain);
    assert.match(text, /^failed: web\[1-12\] \(12\)\n/);
    assert.match(text, /\n  web10: command exited with code 10: false\n  … and 2 more messages\n/);
    assert.doesNotMatch(text, /code 11/);
  });

  test('an interrupted run says so in front of its summary line; --raw shows what the hosts sent', () => {
    const report = new FleetReport(
      [
        host('web1', 0, { stdout: 'a\x1b[2Jb\n' }),
        skippedResult('web2', 1, 'cancelled', 'the run was cancelled'),
      ],
      meta,
    );
    assert.match(
      reportText(report, plain, { interrupted: true }),
      /\ninterrupted: 2 hosts: 1 ok, 1 skipped in 1 s \(per host: p50 100 ms, max 100 ms\)$/,
    );
    assert.match(reportText(report, plain), /\na\\x1b\[2Jb\n/);
    assert.match(reportText(report, palette(false, { raw: true })), /\na\x1b\[2Jb\n/);
  });
});

describe('rollingText', () => {
  test('with several phases, each is named above its batches and its hosts', () => {
    const ok = (name: string, index: number) => host(name, index, { stdout: 'deployed\n' });
    const db = new FleetReport([ok('db1', 0)], meta);
    const web = new FleetReport(
      [
        host('web1', 0, {
          status: 'failed',
          success: false,
          kind: 'failed',
          error: 'web1: health check failed',
        }),
        skippedResult('web2', 1, 'budget', 'not started: maxFailures 0 exceeded'),
      ],
      { ...meta, stopped: 'maxFailures 0 exceeded' },
    );
    const report = new RollingReport(
      [
        {
          name: 'db',
          status: 'done',
          batches: [{ phase: 'db', number: 1, hosts: 'db1', hostList: ['db1'], report: db }],
          report: db,
        },
        {
          name: 'web',
          status: 'stopped',
          batches: [
            {
              phase: 'web',
              number: 1,
              hosts: 'web1',
              hostList: ['web1'],
              report: new FleetReport([web.hosts[0]!], meta),
            },
          ],
          report: web,
        },
      ],
      'maxFailures 0 exceeded',
      2_000,
    );
    assert.equal(
      rollingText(report, plain),
      [
        'phase db: done',
        'batch 1: db1: 1 ok',
        '----------------',
        'db1 (1)',
        '----------------',
        'deployed',
        '1 host: 1 ok in 1 s (per host: p50 100 ms, max 100 ms)',
        'phase web: stopped',
        'batch 1: web1: 0 ok, 1 not ok',
        'failed: web1 (1)',
        '  web1: health check failed',
        'skipped (budget): web2 (1)',
        '  web2: not started: maxFailures 0 exceeded',
        'stopped early: maxFailures 0 exceeded',
        '2 hosts: 0 ok, 1 failed, 1 skipped in 1 s (per host: p50 100 ms, max 100 ms)',
        'deployment stopped: 1 deployed, 1 failed, 1 not started',
      ].join('\n'),
    );
  });
});

describe('copyText', () => {
  test('hosts gathered by what happened to the file, then the failures and the summary', () => {
    const copied = (name: string, index: number, sha256: string) =>
      host(name, index, {
        value: {
          files: [{ local: 'app.conf', remote: '/etc/app.conf', bytes: 12, sha256, verified: true }],
          bytes: 12,
        },
      });
    const report = new FleetReport(
      [
        copied('web1', 0, 'a'.repeat(64)),
        copied('web2', 1, 'a'.repeat(64)),
        host('web3', 2, {
          status: 'unreachable',
          success: false,
          kind: 'refused',
          error: 'web3: connection refused',
        }),
      ],
      meta,
    );
    assert.equal(
      copyText(report, plain),
      [
        'web[1-2] (2): copied /etc/app.conf (12 bytes, sha256 aaaaaaaaaaaa, verified)',
        'unreachable (refused): web3 (1)',
        '  web3: connection refused',
        '3 hosts: 2 ok, 1 unreachable in 1 s (per host: p50 100 ms, max 100 ms)',
      ].join('\n'),
    );
  });
});
