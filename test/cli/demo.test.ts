// `fleetsh demo` end to end: it needs nothing but this package (embedded ssh2 servers), shows a run
// with gathered output and an unreachable host, a rolling deployment that stops at its failure
// budget, shuts its fleet down, and leaves no process behind.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

function demoProcesses(): number[] {
  if (process.platform !== 'linux') return [];
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return readFileSync(`/proc/${n}/environ`, 'latin1').includes('FLEETSH_DEMO_DIR=');
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('fleetsh demo', () => {
  before(() => ensureBuilt());

  test('runs the tour against its own fleet and exits 0', async () => {
    const tmp = scratch();
    const before = new Set(demoProcesses());
    const r = await fleetsh(['demo'], { env: { FLEETSH_STATE_FILE: tmp.stateFile }, timeoutMs: 50_000 });
    tmp.cleanup();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /starting 24 SSH servers/);
    assert.match(r.stdout, /^1\. /m);
    assert.match(
      r.stdout,
      /\$ fleetsh run -F \S+ --connect-timeout 2s -f 8 -w 'web\[01-24\]' --gather -- 'systemctl is-active app'/,
    );
    assert.match(r.stdout, /^web\[.*\] \(22\)\n-+\nactive$/m, 'the healthy hosts gathered in one group');
    assert.match(r.stdout, /^unreachable \(connect-timeout\): web06 \(1\)$/m);
    assert.match(r.stdout, /^24 hosts: 22 ok, 1 failed, 1 unreachable/m);
    assert.match(r.stdout, /^2\. Deploy/m);
    assert.match(r.stdout, /^== batch 1: web01$/m);
    assert.match(r.stdout, /health check failed/);
    assert.match(r.stdout, /deployment stopped: \d+ deployed, 1 failed, \d+ not started/);
    assert.match(r.stdout, /shutting the demo fleet down/);
    const left = demoProcesses().filter((p) => !before.has(p));
    assert.deepEqual(left, [], 'no demo process is left');
    // The demo keeps the operator's last run as it was.
    assert.throws(() => readFileSync(tmp.stateFile));
  });
});
