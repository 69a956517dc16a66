// Child process of bench/peers.ts: the library's "loud hosts" case in a fresh process, so that its
// peak RSS belongs to this run alone (the parent holds the harness and earlier cases). Prints one JSON
// line: wall and CPU of the run (module loading excluded), peak RSS, the RSS before the run, host counts.
//
//   node --import tsx bench/peers/lib-loud.ts SSH_CONFIG CONCURRENCY COMMAND HOST...
import { $ } from '../../src/index.js';

const [sshConfig, concurrency, command, ...hosts] = process.argv.slice(2);
if (!sshConfig || !concurrency || !command || hosts.length === 0) {
  console.error('usage: lib-loud.ts SSH_CONFIG CONCURRENCY COMMAND HOST...');
  process.exit(64);
}

const rssBeforeKb = Math.round(process.memoryUsage().rss / 1024);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const report = await $.fleet(
  hosts.map((host) => ({ host, sshConfig })),
  { concurrency: Number(concurrency) },
).run`${$.raw(command)}`;
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await $.close();
console.log(
  JSON.stringify({
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssKb: process.resourceUsage().maxRSS,
    rssBeforeKb,
    ok: report.counts.ok,
    total: hosts.length,
  }),
);
