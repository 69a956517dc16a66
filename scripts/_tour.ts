import { writeFileSync } from 'node:fs';
import { startFleet } from '../test/harness/fleet.js';
const fleet = await startFleet({ healthy: 6, faults: ['dead-port', 'refuses-key', 'slow'] });
writeFileSync('/tmp/exp/tour/info.json', JSON.stringify({ config: fleet.sshConfigPath, names: [...fleet.healthy.map((h) => h.name)], dir: fleet.dir }));
console.log('ready', fleet.sshConfigPath);
setTimeout(async () => { await fleet.stop(); process.exit(0); }, 15 * 60_000);
process.on('SIGTERM', async () => { await fleet.stop(); process.exit(0); });
