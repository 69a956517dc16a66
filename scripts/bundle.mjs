// Bundles the CLI into dist/fleetsh.cjs (run by dist/cli/bin.cjs) and primes V8's code cache for it.
// One file instead of ~100 modules, compiled once ahead of time: see docs/benchmarks.md, start-up.
//
//   node scripts/bundle.mjs        (part of `npm run build`, after tsc)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'fleetsh.cjs');
const BIN = join(ROOT, 'dist', 'cli', 'bin.cjs');

// Native addons stay in node_modules, where npm built them; the bundle requires them by package
// path, which Node resolves from dist/ just as it would from ssh2's own folder.
const nativeAddons = {
  name: 'native-addons',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => {
      const inSsh2 = args.resolveDir.replace(/\\/g, '/').match(/node_modules\/(ssh2\/.*)$/);
      if (!inSsh2) throw new Error(`unexpected native addon ${args.path} in ${args.resolveDir}`);
      return { path: `${inSsh2[1]}/${args.path.replace(/^\.\//, '')}`, external: true };
    });
  },
};

await build({
  entryPoints: [join(ROOT, 'src', 'cli', 'main.ts')],
  outfile: OUT,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // cpu-features is ssh2's optional native dependency, better-sqlite3 the journal's native addon
  // (src/journal/sqlite.ts), the NATS client scale-out's (src/scale-out/nats.ts, loaded only with
  // --nats and by `fleetsh worker`): all left to Node's resolver, from node_modules.
  external: ['cpu-features', 'better-sqlite3', '@nats-io/transport-node', '@nats-io/jetstream'],
  plugins: [nativeAddons],
  minify: true,
  keepNames: true, // error classes and stack traces keep their names
  legalComments: 'eof',
  sourcemap: true,
  logLevel: 'warning',
  // src/ssh/ssh2-load.ts reaches for import.meta.url only after a failed load, which cannot happen
  // in the bundle (ssh2 is inside it).
  logOverride: { 'empty-import-meta': 'silent' },
  define: {
    FLEETSH_VERSION: JSON.stringify(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version),
  },
});

// bin.cjs decodes the bundle as latin1, the fast path, which is right only for ASCII.
const bytes = readFileSync(OUT);
const bad = bytes.findIndex((b) => b > 0x7f);
if (bad !== -1) throw new Error(`${OUT} has a non-ASCII byte at ${bad}; bin.cts reads it as latin1`);

// Prime the code cache with a typical run: parse flags, select a host, resolve its ssh_config,
// connect and begin the SSH handshake (with a listener here that says it is an SSH server, reads the
// client's first packet and hangs up), then report. bin.cjs saves the cache at exit.
rmSync(`${OUT}.v8-cache`, { force: true });
const server = createServer((socket) => {
  socket.on('error', () => {});
  socket.once('data', () => socket.destroy());
  socket.write('SSH-2.0-OpenSSH_9.2\r\n');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const scratch = mkdtempSync(join(tmpdir(), 'fleetsh-bundle-'));
try {
  const { port } = server.address();
  const args = ['run', '-w', '127.0.0.1', '-p', String(port), '-F', '/dev/null'];
  args.push('--known-hosts', join(scratch, 'known_hosts'), '--gather', '--', 'true');
  // Spawned, not spawnSync: this process's listener has to accept while the run goes on.
  const child = spawn(process.execPath, [BIN, ...args], {
    // An empty home and no ssh-agent: the priming run must not read the builder's keys. No fleetsh
    // agent either: it would outlive the build.
    env: {
      ...process.env,
      HOME: scratch,
      SSH_AUTH_SOCK: '',
      FLEETSH_NO_AGENT: '1',
      FLEETSH_STATE_FILE: join(scratch, 'state.json'),
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const status = await new Promise((resolve) => child.on('close', resolve));
  // Exit 2: the host was unreachable, as it should be here.
  if (status !== 2) throw new Error(`priming run exited ${status}, expected 2:\n${output}`);
} finally {
  server.close();
  rmSync(scratch, { recursive: true, force: true });
}
