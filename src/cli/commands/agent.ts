// `fleetsh agent start|status|stop`, and `agent serve`, the agent itself (what `start` and the
// commands that connect run detached). The agent is src/agent/; docs/agent.md describes it.
import { closeSync, writeSync } from 'node:fs';
import { Agent, AgentRunningError, DEFAULT_AGENT_IDLE_MS, type AgentStatus } from '../../agent/daemon.js';
import { AgentAbsentError, AgentClient } from '../../agent/client.js';
import { agentPaths, AgentUnsafeError } from '../../agent/paths.js';
import { printable } from '../../process/printable.js';
import { openAgent } from '../../agent/start.js';
import { EXIT } from '../exit-codes.js';

export interface AgentFlags {
  idleTimeout?: number;
  json?: boolean;
}

export async function agentCommand(action: string, flags: AgentFlags): Promise<void> {
  try {
    await agentAction(action, flags);
  } catch (e) {
    // A folder, socket or token others could use: said as such, not as an internal error.
    if (!(e instanceof AgentUnsafeError)) throw e;
    process.stderr.write(printable(`fleetsh: agent: ${e.message}`) + '\n');
    process.exitCode = EXIT.failed;
  }
}

async function agentAction(action: string, flags: AgentFlags): Promise<void> {
  const paths = agentPaths();
  if (action === 'serve') return serve(flags);
  if (action === 'start') {
    const client = await openAgent({ paths, idleTimeoutMs: flags.idleTimeout });
    const status = await client.status();
    client.close();
    process.stdout.write(`fleetsh agent running: pid ${status.pid}, socket ${status.socket}\n`);
    return;
  }
  let client: AgentClient;
  try {
    client = await AgentClient.connect(paths);
  } catch (e) {
    if (!(e instanceof AgentAbsentError)) throw e;
    if (action === 'status' && flags.json) process.stdout.write(JSON.stringify({ running: false }) + '\n');
    else process.stdout.write('fleetsh agent: not running\n');
    if (action === 'status') process.exitCode = EXIT.failed;
    return;
  }
  if (action === 'stop') {
    await client.stop();
    process.stdout.write(`fleetsh agent stopped (pid ${client.pid})\n`);
    return;
  }
  const status = await client.status();
  client.close();
  process.stdout.write(flags.json ? JSON.stringify({ running: true, ...pick(status) }) + '\n' : text(status));
}

function pick(s: AgentStatus): AgentStatus {
  const { pid, uptimeMs, idleTimeoutMs, clients, commands, connections, handshakes, socket } = s;
  const persistentShell = s.persistentShell === true;
  return {
    pid,
    uptimeMs,
    idleTimeoutMs,
    clients,
    commands,
    connections,
    handshakes,
    persistentShell,
    socket,
  };
}

function text(s: AgentStatus): string {
  return (
    [
      `fleetsh agent running: pid ${s.pid}`,
      `uptime:       ${seconds(s.uptimeMs)}`,
      `connections:  ${s.connections} (${s.handshakes} handshakes since start)`,
      `clients:      ${s.clients - 1} besides this one, ${s.commands} commands running`,
      `idle timeout: ${seconds(s.idleTimeoutMs)}`,
      `shells:       ${s.persistentShell ? 'persistent (FLEETSH_AGENT_PERSISTENT_SHELL)' : 'one exec request a command'}`,
      `socket:       ${s.socket}`,
    ].join('\n') + '\n'
  );
}

function seconds(ms: number): string {
  return ms >= 60_000
    ? `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
    : `${(ms / 1000).toFixed(1)}s`;
}

/** The agent, in this process, until it stops; says "ready" on the descriptor its starter gave. */
async function serve(flags: AgentFlags): Promise<void> {
  const fd = Number(process.env.FLEETSH_AGENT_READY_FD);
  delete process.env.FLEETSH_AGENT_READY_FD;
  const tell = (line: string) => {
    if (!Number.isInteger(fd) || fd < 3) return;
    try {
      writeSync(fd, line + '\n');
      closeSync(fd);
    } catch {
      // the starter gave up waiting: nothing to tell
    }
  };
  let agent: Agent;
  try {
    agent = await Agent.start({ idleTimeoutMs: flags.idleTimeout ?? DEFAULT_AGENT_IDLE_MS });
  } catch (e) {
    if (e instanceof AgentRunningError) {
      tell(`running ${e.pid}`);
      return;
    }
    throw e;
  }
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
    process.on(signal, () => void agent.stop(`got ${signal}`));
  tell('ready');
  await agent.closed;
  process.exit(EXIT.ok);
}
