// Start-up of the CLI: from spawning `fleetsh run` to the first TCP connection reaching a host
// (target ≤ 150 ms), beside a bare `node -e 0` and `fleetsh --version` for scale. The "host" is a
// local listener that records the moment it accepts and then closes the socket.
//
//   npx tsc -p tsconfig.build.json && node --import tsx bench/cli-startup.ts [runs]
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const runs = Number(process.argv[2] ?? 15);
const scratch = mkdtempSync(join(tmpdir(), 'fleetsh-bench-'));
const STATE = join(scratch, 'last-run.json');

function spawnMs(args: string[], until?: Promise<number>): Promise<{ exitMs: number; firstMs?: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, {
      stdio: 'ignore',
      env: { ...process.env, FLEETSH_STATE_FILE: STATE },
    });
    let first: number | undefined;
    until?.then((t) => (first = t - t0));
    child.on('close', () => resolve({ exitMs: performance.now() - t0, firstMs: first }));
  });
}

function stats(values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return `min ${s[0]!.toFixed(0)} ms, median ${p(0.5).toFixed(0)} ms, p90 ${p(0.9).toFixed(0)} ms`;
}

const bare: number[] = [];
const version: number[] = [];
const first: number[] = [];
for (let i = 0; i < runs; i++) {
  bare.push((await spawnMs(['-e', '0'])).exitMs);
  version.push((await spawnMs([CLI, '--version'])).exitMs);
  const server = createServer();
  let accepted!: (t: number) => void;
  const acceptedAt = new Promise<number>((r) => (accepted = r));
  server.on('connection', (socket) => {
    accepted(performance.now());
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const r = await spawnMs(
    [
      CLI,
      'run',
      '-w',
      '127.0.0.1',
      '-p',
      String(port),
      '-F',
      '/dev/null',
      '--connect-timeout',
      '2',
      '--gather',
      '--',
      'true',
    ],
    acceptedAt,
  );
  server.close();
  if (r.firstMs !== undefined) first.push(r.firstMs);
}
console.log(`node -e 0:                 ${stats(bare)}`);
console.log(`fleetsh --version:         ${stats(version)}`);
console.log(`fleetsh run → first connection: ${first.length ? stats(first) : 'no connection seen'}`);
rmSync(scratch, { recursive: true, force: true });
