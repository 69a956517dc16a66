// 1 GiB piped into `fleetsh run` for 8 hosts (bench/stdin-input.ts measures the same through the
// library): every host counts every byte, and fleetsh's peak RSS (VmHWM, sampled from /proc while
// it runs) stays far below the input's size, since the input is spooled to an unlinked file and
// not held in memory. Prints the figures as `# ...` lines.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startFleet, sshdAvailable, type TestFleet } from '../test/harness/fleet.js';
import { CLI, ensureBuilt } from '../test/cli/helpers.js';
import { figure } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const MiB = 1024 * 1024;
const INPUT_MIB = 1024;
const HOSTS = 8;
/**
 * Peak RSS of `fleetsh run` sending 1 GiB to 8 hosts: 178 MiB through the library in
 * bench/stdin-input.ts, about 105 MiB of it the process at rest. 400 MiB leaves room for a busy
 * machine's garbage collection and fails any change that holds the input (1 GiB) in memory.
 */
const PEAK_BOUND_MIB = 400;

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

describe('1 GiB of input to every host', { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: HOSTS });
  });
  after(async () => {
    await fleet?.stop();
  });

  test(
    'every host gets every byte; fleetsh peaks far below the input size',
    { timeout: 600_000 },
    async () => {
      const child = spawn(
        process.execPath,
        [CLI, 'run', '-F', fleet.sshConfigPath, '-w', `h[01-0${HOSTS}]`, '--json', '--', 'wc -c'],
        { env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, peakRssMiB(child.pid!))), 100);
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      const t0 = performance.now();
      try {
        const block = randomBytes(MiB);
        for (let i = 0; i < INPUT_MIB; i++) {
          if (!child.stdin.write(block)) await new Promise((r) => child.stdin.once('drain', r));
        }
        child.stdin.end();
        assert.equal(await closed, 0, stderr);
      } finally {
        clearInterval(sampler);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      const report = JSON.parse(stdout);
      assert.equal(report.counts.ok, HOSTS);
      for (const h of report.hosts) assert.equal(Number(h.stdout.trim()), INPUT_MIB * MiB, h.host);
      figure(
        `${INPUT_MIB} MiB to ${HOSTS} hosts in ${((performance.now() - t0) / 1000).toFixed(1)} s, fleetsh peak RSS ${peak.toFixed(0)} MiB`,
      );
      assert.ok(peak > 0, 'the peak was sampled');
      assert.ok(peak < PEAK_BOUND_MIB, `peak RSS ${peak.toFixed(0)} MiB, bound ${PEAK_BOUND_MIB} MiB`);
    },
  );
});
