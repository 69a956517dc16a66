// Helpers for the CLI tests: build dist/ when a source file is newer than it (once, under a lock,
// since test files run in parallel), then spawn the built `fleetsh` with a private state file; the
// hostile output of the escape tests.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'bin.cjs');
/** The bundle bin.cjs runs; written last by the build, so its age is the build's. */
const BUNDLE = join(ROOT, 'dist', 'fleetsh.cjs');

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    t = Math.max(t, name.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function builtAt(): number {
  try {
    return Math.min(statSync(CLI).mtimeMs, statSync(BUNDLE).mtimeMs);
  } catch {
    return 0;
  }
}

function holderAlive(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    // Just made, pid not written yet; or left by a build from before locks held a pid.
    const made = statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    return Date.now() - made < 10_000;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Builds dist/ (tsc, then the bundle) when src/ changed since the last build. */
export function ensureBuilt(): void {
  if (builtAt() >= newest(join(ROOT, 'src'))) return;
  const lock = join(ROOT, 'dist', '.build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      // A lock whose holder is gone (a test run killed mid-build) is stale: take it over.
      if (!holderAlive(lock)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another build holds ${lock}; remove it if stale`);
      spawnSync('sleep', ['0.2']);
    }
  }
  try {
    if (builtAt() >= newest(join(ROOT, 'src'))) return; // built while we waited
    const steps = [
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      [join(ROOT, 'scripts', 'bundle.mjs')],
    ];
    for (const step of steps) {
      const r = spawnSync(process.execPath, step, { cwd: ROOT, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
  /** Called once the process is started (for sending signals). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
  /** In a session of its own: no controlling terminal, whatever the tests run under. */
  detached?: boolean;
}

/** A private folder for state files and outputs, removed by the returned cleanup. */
export function scratch(): { dir: string; stateFile: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'fleetsh-cli-test-'));
  return {
    dir,
    stateFile: join(dir, 'last-run.json'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Runs the built CLI; never rejects on a non-zero exit. NO_COLOR and FLEETSH_NO_AGENT are set unless
 * the env says otherwise.
 */
export function fleetsh(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? ROOT,
      // Direct connections unless the test opts in to the agent (FLEETSH_NO_AGENT: '' in opts.env).
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, FLEETSH_NO_AGENT: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: opts.detached ?? false,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    opts.onSpawn?.(child);
  });
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What a compromised host prints (the example): retitle and clear the terminal, then forge a line with a bare CR. */
export const HOSTILE = String.raw`printf '\033]0;PWNED\007\033[2Jhidden\rFAKE: ok\n'`;
/** The bytes HOSTILE prints, as they come. */
export const HOSTILE_BYTES = '\x1b]0;PWNED\x07\x1b[2Jhidden\rFAKE: ok\n';
/** How fleetsh shows HOSTILE's line to a person. */
export const HOSTILE_SHOWN = String.raw`\x1b]0;PWNED\x07\x1b[2Jhidden\rFAKE: ok`;
