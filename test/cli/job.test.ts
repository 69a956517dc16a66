// The CLI's end-of-run text and the library's toText() are one rendering: for the same report, what
// `fleetsh run` and `fleetsh rolling` print without colours (--gather, or in a pipe) is toText()'s
// text, and with colours it is the same text with escapes added around it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rollingJob } from '../../src/cli/commands/rolling.js';
import { fleetRunView } from '../../src/cli/job.js';
import { skippedResult, type HostResult } from '../../src/fleet/host-result.js';
import { FleetReport } from '../../src/fleet/report.js';
import { RollingReport } from '../../src/fleet/rolling-report.js';
import { palette, plain } from '../../src/render/palette.js';
import { hostResult } from '../fleet/helpers.js';

/** A host that printed its uptime, as a real run would have it. */
const host = (name: string, index: number, patch: Partial<HostResult> = {}): HostResult =>
  hostResult(name, index, { stdout: `${name} up 3 days\n`, durationMs: 120 + index, ...patch });

const failed = (name: string, index: number): HostResult =>
  host(name, index, {
    status: 'failed',
    success: false,
    kind: 'failed',
    exitCode: 3,
    stdout: 'inactive\n',
    stderr: 'broken\n',
    error: `${name}: command exited with code 3: systemctl is-active app\nstderr (last lines):\n  broken`,
  });

const meta = (stopped: string | null) => ({
  command: 'systemctl is-active app',
  startedAt: new Date(0),
  wallMs: 2_040,
  stopped,
  peakConcurrency: 4,
});

const report = new FleetReport(
  [
    host('web1', 0),
    host('web2', 1),
    host('web3', 2, { stdout: 'web3 up 12 days\n' }),
    failed('web4', 3),
    failed('web5', 4),
    host('web6', 5, {
      status: 'unreachable',
      success: false,
      kind: 'connect-timeout',
      exitCode: null,
      stdout: null,
      stderr: null,
      error: 'web6: connection timed out: after 2 s\n  Is the host up?',
    }),
    skippedResult('web7', 6, 'budget', 'maxFailures 1 exceeded (2 failed)'),
  ],
  meta('maxFailures 1 exceeded (2 failed)'),
);

/** The CLI's text as runJob prints it, without its final newline. */
const cli = (colors = plain, groups = true) =>
  fleetRunView.text(report, colors, { groups, interrupted: false });
const withoutEscapes = (text: string) => text.replace(/\x1b\[\d+m/g, '');

describe("the CLI's summary and toText()", () => {
  test('are the same text for a fleet run, with and without the output groups', () => {
    assert.equal(cli(), report.toText());
    assert.equal(cli(plain, false), report.toText({ groups: false }));
    // Hosts that said the same thing share a line, with the stderr tail under it.
    assert.match(cli(), /^  web\[4-5\]: command exited with code 3: systemctl is-active app\n {6}broken$/m);
  });

  test('with colours, the same text with escapes around it', () => {
    const coloured = cli(palette(true));
    assert.notEqual(coloured, report.toText());
    assert.equal(withoutEscapes(coloured), report.toText());
  });

  test('are the same text for a rolling deployment', () => {
    const batch = new FleetReport([host('web1', 0)], meta(null));
    const rolling = new RollingReport(
      [
        {
          name: 'deploy',
          status: 'stopped',
          batches: [{ phase: 'deploy', number: 1, hosts: 'web1', hostList: ['web1'], report: batch }],
          report,
        },
      ],
      'maxFailures 1 exceeded (2 failed)',
      2_040,
    );
    const view = rollingJob({ phases: [] });
    assert.equal(view.text(rolling, plain, { groups: true, interrupted: false }), rolling.toText());
    assert.equal(
      withoutEscapes(view.text(rolling, palette(true), { groups: true, interrupted: false })),
      rolling.toText(),
    );
    assert.match(rolling.toText(), /^batch 1: web1: 1 ok\n/);
    assert.match(rolling.toText(), /\ndeployment stopped: 3 deployed, 3 failed, 1 not started$/);
  });
});
