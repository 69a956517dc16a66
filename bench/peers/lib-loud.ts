// Child process of bench/peers.ts: the library's "1 MiB of stdout a host" case in a fresh process, so
// that its peak RSS belongs to this run alone (the parent holds the harness and earlier cases). Checks
// every host's kept stdout against the SHA-256 it should have (maxOutput raised above the output's
// size, so nothing is cut). Prints one JSON line: wall and CPU of the run (module loading excluded),
// peak RSS, the RSS before the run, how many hosts were ok and how many had their output whole.
//
//   node --import tsx bench/peers/lib-loud.ts SSH_CONFIG CONCURRENCY EXPECTED_JSON COMMAND HOST...
//   (EXPECTED_JSON: a file of { host: { sha256, bytes } })
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { $ } from '../../src/index.js';

const [sshConfig, concurrency, expectedFile, command, ...hosts] = process.argv.slice(2);
if (!sshConfig || !concurrency || !expectedFile || !command || hosts.length === 0) {
  console.error('usage: lib-loud.ts SSH_CONFIG CONCURRENCY EXPECTED_JSON COMMAND HOST...');
  process.exit(64);
}
const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as Record<
  string,
  { sha256: string; bytes: number }
>;
const largest = Math.max(...Object.values(expected).map((e) => e.bytes));

const rssBeforeKb = Math.round(process.memoryUsage().rss / 1024);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const report = await $.fleet(
  hosts.map((host) => ({ host, sshConfig })),
  { concurrency: Number(concurrency), maxOutput: largest * 2 },
).run`${$.raw(command)}`;
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await $.close();
let complete = 0;
const wrong: string[] = [];
for (const h of report.hosts) {
  const out = Buffer.from(h.stdout ?? '', 'utf8');
  const want = expected[h.host];
  if (want && out.length === want.bytes && createHash('sha256').update(out).digest('hex') === want.sha256)
    complete++;
  else wrong.push(`${h.host}: ${h.status}, ${out.length} of ${want?.bytes} bytes`);
}
console.log(
  JSON.stringify({
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssKb: process.resourceUsage().maxRSS,
    rssBeforeKb,
    ok: report.counts.ok,
    complete,
    total: hosts.length,
    wrong: wrong.slice(0, 3),
  }),
);
