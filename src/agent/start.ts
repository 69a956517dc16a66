// Starting the agent on demand: connect to the running one, else start one detached (its own
// session and process group, output to its log in the socket's folder) and connect once it says
// it listens. The agent is this same program (`fleetsh agent serve`), run by this same Node.
import { spawn } from 'node:child_process';
import { closeSync, openSync, statSync, truncateSync } from 'node:fs';
import { AgentAbsentError, AgentClient } from './client.js';
import { agentPaths, checkFile, ensureDir, type AgentPaths } from './paths.js';

/** How long a new agent may take to listen (it loads ssh2 and the bundle: ~0.2 s here when idle). */
const START_TIMEOUT_MS = 15_000;
/** The log is emptied at a start once it is past this size. */
const LOG_LIMIT = 1024 * 1024;

export interface OpenAgentOptions {
  /** Start the agent when none runs (default true). */
  start?: boolean;
  /** The idle timeout of an agent started now. */
  idleTimeoutMs?: number;
  paths?: AgentPaths;
}

/** A client of the running agent, started first if need be. */
export async function openAgent(options: OpenAgentOptions = {}): Promise<AgentClient> {
  const paths = options.paths ?? agentPaths();
  try {
    return await AgentClient.connect(paths);
  } catch (e) {
    if (!(e instanceof AgentAbsentError) || options.start === false) throw e;
  }
  await startAgent(paths, options.idleTimeoutMs);
  // Two CLIs starting at once: one agent takes the lock, the other's says so and exits, maybe
  // before the first listens. Its socket then appears within the start's bound.
  const end = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      return await AgentClient.connect(paths);
    } catch (e) {
      if (!(e instanceof AgentAbsentError) || performance.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Runs `fleetsh agent serve` detached and waits for it to say it listens (or that one already does). */
export async function startAgent(paths: AgentPaths, idleTimeoutMs?: number): Promise<void> {
  ensureDir(paths);
  const log = openLog(paths.log);
  const script = process.argv[1];
  if (!script) throw new Error('cannot start the agent: no program path in process.argv');
  // The same Node flags (a loader such as tsx when the CLI runs from its sources).
  const args = [...process.execArgv, script, 'agent', 'serve'];
  if (idleTimeoutMs !== undefined) args.push('--idle-timeout', `${idleTimeoutMs}ms`);
  const child = spawn(process.execPath, args, {
    detached: true,
    cwd: paths.dir,
    stdio: ['ignore', log, log, 'pipe'],
    env: { ...process.env, FLEETSH_AGENT_READY_FD: '3' },
  });
  closeSync(log);
  const ready = child.stdio[3]!;
  try {
    await new Promise<void>((resolve, reject) => {
      let said = '';
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`the agent did not start within ${START_TIMEOUT_MS} ms (its log: ${paths.log})`));
      }, START_TIMEOUT_MS);
      ready.on('data', (d: Buffer) => {
        said += d.toString();
        if (said.includes('\n')) (clearTimeout(timer), resolve());
      });
      child.once('error', (e) => (clearTimeout(timer), reject(e)));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the agent exited at start with code ${code} (its log: ${paths.log})`));
      });
    });
  } finally {
    child.removeAllListeners('exit');
    ready.destroy();
    child.unref();
  }
}

function openLog(path: string): number {
  try {
    checkFile(path, 'file');
    if (statSync(path).size > LOG_LIMIT) truncateSync(path, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return openSync(path, 'a', 0o600);
}
