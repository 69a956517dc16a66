// The input sent to every host (`fleetsh run ... < file`, the fleet's `stdin` option): how much
// memory and time it costs to send one stream of --mib MiB to --hosts harness hosts, which count the
// bytes they get (`wc -c`), three ways, each in a process of its own so that its peak RSS is its own:
//   - spool: the stream as the `stdin` option (src/fleet/input.ts: an unlinked temporary file that
//     each host reads from the start);
//   - memory: the whole stream read into one Buffer first, then that Buffer as the option;
//   - file: the same bytes from a file, as `{ file }` (opened once, read by each host).
//
//   npx tsx bench/stdin-input.ts [--hosts 8] [--mib 1024] [--concurrency 8]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const MiB = 1024 * 1024;
const block = randomBytes(MiB);
/** `mib` MiB of the same random block, produced as it is read (the producer holds 1 MiB). */
function source(mib: number): Readable {
  let left = mib;
  return new Readable({
    read() {
      this.push(left-- > 0 ? block : null);
    },
  });
}

interface ChildSpec {
  mode: 'spool' | 'memory' | 'file';
  mib: number;
  concurrency: number;
  file: string;
  targets: { host: string; sshConfig: string }[];
}

async function child(spec: ChildSpec): Promise<void> {
  const { $ } = await import('../src/index.js');
  const t0 = performance.now();
  let stdin;
  if (spec.mode === 'spool') stdin = source(spec.mib);
  else if (spec.mode === 'file') stdin = { file: spec.file };
  else {
    const chunks: Buffer[] = [];
    for await (const c of source(spec.mib)) chunks.push(c as Buffer);
    stdin = Buffer.concat(chunks);
  }
  const report = await $.fleet(spec.targets, { concurrency: spec.concurrency, stdin }).run`wc -c`;
  const wallMs = performance.now() - t0;
  await $.close();
  const counts = report.hosts.map((h) => Number(h.stdout?.trim()));
  if (report.counts.ok !== spec.targets.length || counts.some((n) => n !== spec.mib * MiB))
    throw new Error(`not every host got ${spec.mib} MiB: ${report.toText()}`);
  const peakMiB = process.resourceUsage().maxRSS / 1024;
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ wallMs, peakMiB, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n');
}

async function main(): Promise<void> {
  const hosts = arg('hosts', 8);
  const mib = arg('mib', 1024);
  const concurrency = arg('concurrency', hosts);
  const { startFleet } = await import('../test/harness/fleet.js');
  const fleet = await startFleet({ healthy: hosts });
  const scratch = mkdtempSync(join(tmpdir(), 'fleetsh-bench-stdin-'));
  try {
    const file = join(scratch, 'input');
    await finished(source(mib).pipe(createWriteStream(file)));
    const targets = fleet.healthy.map((h) => ({ host: h.name, sshConfig: fleet.sshConfigPath }));
    console.log(`${mib} MiB to ${hosts} hosts, ${concurrency} at once (wc -c on each)`);
    console.log('mode     wall    fleetsh CPU   peak RSS');
    for (const mode of ['spool', 'memory', 'file'] as const) {
      const spec: ChildSpec = { mode, mib, concurrency, file, targets };
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      );
      if (r.status !== 0) throw new Error(`${mode}: ${r.stderr}`);
      const { wallMs, peakMiB, cpuMs } = JSON.parse(r.stdout.trim().split('\n').pop()!);
      const s = (ms: number) => `${(ms / 1000).toFixed(1).padStart(5)} s`;
      console.log(`${mode.padEnd(8)} ${s(wallMs)}  ${s(cpuMs)}     ${peakMiB.toFixed(0).padStart(6)} MiB`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await fleet.stop();
  }
}

const at = process.argv.indexOf('--child');
if (at >= 0) await child(JSON.parse(process.argv[at + 1]!));
else await main();
