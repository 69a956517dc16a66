// Run by harness.test.ts: starts a fleet with work running on it, prints the fleet's dir once that
// work is seen running, then ends without stop(), by process.exit() once stdin says so or by the
// signal the test sends.
import { readFileSync } from 'node:fs';
import { runOnHost, startFleet } from './fleet.js';
import { fleetPids, pidsMentioning } from './procs.js';

const fleet = await startFleet({ healthy: 2, faults: ['black-hole'] });
await runOnHost(fleet, fleet.healthy[0]!, 'nohup sleep 60 >/dev/null 2>&1 &');
void runOnHost(fleet, fleet.healthy[1]!, 'sleep 60');
// Both sleeps take a moment to start, longer on a loaded machine: wait until both run (a sleep
// forked after the test's look would escape its count), not for a clock.
const sleeps = () =>
  fleetPids(pidsMentioning(fleet.dir), fleet.dir).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1') === 'sleep\x0060\x00';
    } catch {
      return false;
    }
  }).length;
const deadline = Date.now() + 30_000;
while (sleeps() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
console.log(fleet.dir);
// Stay alive until signalled, or until told on stdin to exit.
process.stdin.on('data', () => process.exit(0));
