// Running a command on a fleet host with the system ssh client.
import { spawn } from 'node:child_process';
import type { FleetHost, TestFleet } from './fleet.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null; // null when ssh was killed (timeout)
}

/** Runs `command` on `host` with the system ssh client and the fleet's ssh_config. */
export function runOnHost(
  fleet: TestFleet,
  host: FleetHost,
  command: string,
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [...fleet.sshArgs(host), command], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}
