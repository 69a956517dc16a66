// Start-up of the CLI: from spawning `fleetsh run` to its first TCP connection reaching a host
// (target ≤ 150 ms). Measured in the same run, interleaved:
//   - node's floor: a one-line script that only opens a TCP connection;
//   - the shipped executable, dist/cli/bin.cjs (the bundle through V8's code cache);
//   - the same CLI from its tsc-built modules, without the bundle (what start-up used to be).
// The "host" is a local listener that records when it accepts, then closes the socket.
// NODE_EXTRA_CA_CERTS makes every Node process read a CA bundle before it runs a line of
// JavaScript (about 60 ms here); when it is set, every case is measured with and without it.
//
//   npm run build && node --import tsx bench/cli-startup.ts [runs=21]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIST = join(import.meta.dirname, '..', 'dist');
const runs = Number(process.argv[2] ?? 21);
const scratch = mkdtempSync(join(tmpdir(), 'fleetsh-bench-'));
const floorScript = join(scratch, 'connect.cjs');
writeFileSync(
  floorScript,
  "require('net').connect(Number(process.argv[2]), '127.0.0.1').on('error', () => {}).on('connect', function () { this.destroy(); });\n",
);
const unbundled = join(scratch, 'unbundled.mjs');
writeFileSync(
  unbundled,
  `const { main } = await import(${JSON.stringify(join(DIST, 'cli', 'main.js'))});\nawait main(process.argv);\n`,
);

const runArgs = (port: number) => [
  'run',
  '-w',
  '127.0.0.1',
  '-p',
  String(port),
  '-F',
  '/dev/null',
  '--known-hosts',
  join(scratch, 'known_hosts'),
  '--connect-timeout',
  '2',
  '--gather',
  '--',
  'true',
];
const cases: Record<string, (port: number) => string[]> = {
  'node: open one connection': (port) => [floorScript, String(port)],
  'fleetsh run (bundle + code cache)': (port) => [join(DIST, 'cli', 'bin.cjs'), ...runArgs(port)],
  'fleetsh run (unbundled modules)': (port) => [unbundled, ...runArgs(port)],
};

/** Milliseconds from spawn to the listener's accept, or undefined if nothing connected. */
async function firstConnection(args: (port: number) => string[], env: NodeJS.ProcessEnv) {
  const server = createServer();
  let accepted: number | undefined;
  server.on('connection', (socket) => {
    accepted ??= performance.now();
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const t0 = performance.now();
  const child = spawn(process.execPath, args(port), { stdio: 'ignore', env });
  await new Promise((r) => child.on('close', r));
  server.close();
  return accepted === undefined ? undefined : accepted - t0;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const base: NodeJS.ProcessEnv = {
  ...process.env,
  // A direct run's start-up: through the agent, the CLI makes no TCP connection (bench/agent-warm.ts).
  FLEETSH_NO_AGENT: '1',
  FLEETSH_STATE_FILE: join(scratch, 'last-run.json'),
  HOME: scratch,
};
const envs: Record<string, NodeJS.ProcessEnv> = { 'environment as is': base };
if (process.env.NODE_EXTRA_CA_CERTS) {
  const { NODE_EXTRA_CA_CERTS: _, ...without } = base;
  envs['without NODE_EXTRA_CA_CERTS'] = without;
}

try {
  for (const [envName, env] of Object.entries(envs)) {
    const times = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
    for (let i = 0; i < runs; i++) {
      for (const [name, args] of Object.entries(cases)) {
        const ms = await firstConnection(args, env);
        if (ms !== undefined) times.get(name)!.push(ms);
      }
    }
    console.log(`\n${envName}: spawn → first TCP connection, ${runs} runs each`);
    const floor = median(times.get('node: open one connection')!);
    for (const [name, ms] of times) {
      if (ms.length === 0) {
        console.log(`  ${name.padEnd(36)} no connection seen`);
        continue;
      }
      const s = [...ms].sort((a, b) => a - b);
      const m = median(ms);
      const extra = name.startsWith('node') ? '' : `  (+${(m - floor).toFixed(0)} ms over node)`;
      console.log(
        `  ${name.padEnd(36)} min ${s[0]!.toFixed(0)} ms, median ${m.toFixed(0)} ms, p90 ${s[Math.floor(0.9 * s.length)]!.toFixed(0)} ms${extra}`,
      );
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
