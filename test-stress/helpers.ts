// Shared by the stress tests: runs a fixture script (which imports the built dist/) in a process of
// its own, optionally under `prlimit --nofile=N:N`, so what it measures (RSS, descriptors, handles)
// is fleetsh's alone; and watches how much memory the machine has left meanwhile.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ChildRun<T> {
  /** The fixture's last stdout line, parsed. */
  result: T;
  code: number | null;
  stderr: string;
  /** The least MemAvailable seen while it ran, in GiB (sampled every second). */
  minAvailableGiB: number;
}

function memAvailableGiB(): number {
  const line = readFileSync('/proc/meminfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('MemAvailable:'));
  return Number(line?.match(/\d+/)?.[0] ?? 0) / 1024 / 1024;
}

/**
 * Runs `node [nodeArgs] fixture '<json arg>'`. Rejects if it does not end within timeoutMs (it is
 * then killed, by its pid), exits non-zero, or prints no JSON: a hang is a failure, never a wait.
 */
export function runFixture<T>(
  fixture: string,
  arg: unknown,
  opts: { nofile?: number; nodeArgs?: string[]; timeoutMs: number },
): Promise<ChildRun<T>> {
  const node = [process.execPath, ...(opts.nodeArgs ?? []), fixture, JSON.stringify(arg)];
  const argv = opts.nofile ? ['prlimit', `--nofile=${opts.nofile}:${opts.nofile}`, ...node] : node;
  return new Promise((resolve, reject) => {
    // prlimit execs node: the pid is the fixture's. No agent: the harness's ssh_config names the key.
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, SSH_AUTH_SOCK: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let minAvailableGiB = memAvailableGiB();
    const memory = setInterval(() => (minAvailableGiB = Math.min(minAvailableGiB, memAvailableGiB())), 1000);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(memory);
      if (timedOut) return reject(new Error(`${fixture} did not end within ${opts.timeoutMs} ms\n${stderr}`));
      if (code !== 0) return reject(new Error(`${fixture} exited with ${code}\n${stderr}`));
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve({ result: JSON.parse(last) as T, code, stderr, minAvailableGiB });
      } catch {
        reject(new Error(`${fixture} printed no JSON result:\n${stdout.slice(-2000)}\n${stderr}`));
      }
    });
  });
}

/** Writes a line of figures to stderr, which Node's test runner prints as a `# ...` line. */
export function figure(text: string): void {
  process.stderr.write(`${text}\n`);
}
