// Run by harness.test.ts: starts a fleet with work running on it, prints the fleet's dir, then ends
// without stop(), by process.exit() once stdin says so or by the signal the test sends.
import { runOnHost, startFleet } from './fleet.js';

const fleet = await startFleet({ healthy: 2, faults: ['black-hole'] });
await runOnHost(fleet, fleet.healthy[0]!, 'nohup sleep 60 >/dev/null 2>&1 &');
void runOnHost(fleet, fleet.healthy[1]!, 'sleep 60');
setTimeout(() => console.log(fleet.dir), 500);
// Stay alive until signalled, or until told on stdin to exit.
process.stdin.on('data', () => process.exit(0));
