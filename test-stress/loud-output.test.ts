// 200 hosts that each print 1 MiB of random bytes as base64 (1.4 MB, 18,397 lines) through
// `fleetsh run`, whose stdout is a pipe that the test does not read for its first 3 seconds
// (bench/loud-output.ts measures the same against the peers): every line is printed once, with its
// host, and nothing after the summary repeats them; fleetsh's peak RSS (VmHWM, sampled from /proc)
// stays bounded, since live lines keep no output and a piped stdout is written synchronously (a
// slow reader slows the hosts instead of queueing lines). Prints the figures as `# ...` lines.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startFleet, sshdAvailable, type TestFleet } from '../test/harness/fleet.js';
import { CLI, ensureBuilt } from '../test/cli/helpers.js';
import { figure } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const HOSTS = 200;
const LINES = Math.ceil((Math.ceil(1048576 / 3) * 4) / 76); // base64's 76-column lines
/**
 * Measured on a 2-core machine at load 45: 151 MiB here (bench/loud-output.ts at 100 hosts: 118 MiB,
 * 62 MiB of it a run of `true`), where the build before this change peaked at 2,556 MiB for 100
 * hosts. Keeping each host's 1 MiB (200 MiB more) or queueing the unread lines (up to 280 MB)
 * would go past this bound.
 */
const PEAK_BOUND_MIB = 250;

/** VmHWM (peak RSS) of a running process, in MiB, or 0 once it is gone. */
function peakRssMiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmHWM:'));
    return Number(line?.match(/\d+/)?.[0] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

describe(`${HOSTS} loud hosts through fleetsh run`, { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: HOSTS });
  });
  after(async () => {
    await fleet?.stop();
  });

  test(
    'every line printed once, nothing repeated after; peak RSS bounded with a slow reader',
    { timeout: 600_000 },
    async () => {
      const names = fleet.healthy.map((h) => h.name);
      const child = spawn(
        process.execPath,
        [
          CLI,
          'run',
          '-F',
          fleet.sshConfigPath,
          '-w',
          names.join(','),
          '-f',
          '64',
          '--no-progress',
          '--',
          'head -c 1048576 /dev/urandom | base64',
        ],
        {
          env: { ...process.env, NO_COLOR: '1', FLEETSH_STATE_FILE: '/dev/null' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, peakRssMiB(child.pid!))), 100);
      const perHost = new Map<string, number>();
      let other: string[] = [];
      let partial = '';
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
      // Not read for 3 s: fleetsh must wait for the reader, not queue the lines.
      child.stdout.pause();
      const resume = setTimeout(() => child.stdout.resume(), 3_000);
      child.stdout.on('data', (d: Buffer) => {
        const lines = (partial + d.toString('latin1')).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          const host = /^(h\d+): +[A-Za-z0-9+/=]+$/.exec(line)?.[1];
          if (host) perHost.set(host, (perHost.get(host) ?? 0) + 1);
          else other.push(line);
        }
      });
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      const t0 = performance.now();
      try {
        assert.equal(await closed, 0, stderr);
      } finally {
        clearInterval(sampler);
        clearTimeout(resume);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      for (const name of names) assert.equal(perHost.get(name), LINES, `${name}: every line, once`);
      other = other.filter((l) => l !== '');
      assert.equal(
        other.length,
        1,
        `only the summary besides the live lines:\n${other.slice(0, 5).join('\n')}`,
      );
      assert.match(other[0]!, new RegExp(`^${HOSTS} hosts: ${HOSTS} ok in `));
      figure(
        `${HOSTS} hosts × 1.4 MB in ${((performance.now() - t0) / 1000).toFixed(1)} s, fleetsh peak RSS ${peak.toFixed(0)} MiB`,
      );
      assert.ok(peak > 0, 'the peak was sampled');
      assert.ok(peak < PEAK_BOUND_MIB, `peak RSS ${peak.toFixed(0)} MiB, bound ${PEAK_BOUND_MIB} MiB`);
    },
  );
});
