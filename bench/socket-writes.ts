// How many system calls batching ssh2's writes per event-loop turn would save: counts, on harness
// hosts of real sshd, the SSH packets fleetsh writes to its sockets (ssh2 makes one socket.write(),
// so one write(2), a packet) and the turns of the event loop they are written in (what writes would
// remain if each turn's packets went out as one, with `cork()` on a turn's first write and
// `uncork()` on the next tick). Exact counts, so a busy machine does not blur them, for:
//   - a cold connection and one command (TCP, key exchange, login, `true`), host after host;
//   - a warm command: `true` again on each kept connection;
//   - a burst: 5 commands at once on one kept connection (the one case with packets to batch);
//   - a cold connection and one command through a jump host (the packets on the jump's socket).
//
//   npx tsx bench/socket-writes.ts [--hosts 20]
//
// Counts sockets to the harness hosts only (not stdout, not the agent's socket). Measured on
// 2026-11-30 (docs/benchmarks.md, bench/cold-cpu.ts): why writes are not batched.
import net from 'node:net';
import { startFleet } from '../test/harness/fleet.js';
import { directOf, sshFor, targetOf } from '../test/ssh/helpers.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const HOSTS = Number(arg('hosts') ?? 20);

const fleet = await startFleet({ healthy: HOSTS + 1 });
const ports = new Set(fleet.healthy.map((h) => h.port));
let packets = 0;
let turns = 0;
const inTurn = new WeakSet<net.Socket>();
const socketWrite = net.Socket.prototype.write;
net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
  if (this.remotePort !== undefined && ports.has(this.remotePort)) {
    packets++;
    if (!inTurn.has(this)) {
      inTurn.add(this);
      turns++;
      process.nextTick(() => inTurn.delete(this));
    }
  }
  return (socketWrite as (...a: unknown[]) => boolean).apply(this, args);
} as typeof net.Socket.prototype.write;

async function count(what: string, per: number, work: () => Promise<unknown>): Promise<void> {
  packets = turns = 0;
  await work();
  const p = packets / per;
  const t = turns / per;
  console.log(
    `${what.padEnd(44)} ${p.toFixed(1).padStart(7)} ${t.toFixed(1).padStart(13)} ${(1 - t / p).toLocaleString('en', { style: 'percent' }).padStart(6)}`,
  );
}

const ssh = sshFor(fleet);
try {
  const hosts = fleet.healthy.slice(1, HOSTS + 1);
  const targets = hosts.map((h) => directOf(fleet, h));
  console.log(`${HOSTS} harness hosts; per connection or command:`);
  console.log(`${'case'.padEnd(44)} packets  turns (writes)  saved`);
  await count('cold: connect, log in, `true`', HOSTS, async () => {
    for (const t of targets) await ssh(t)`true`;
  });
  await count('warm: `true` on the kept connection', HOSTS, async () => {
    for (const t of targets) await ssh(t)`true`;
  });
  await count('burst: 5 commands at once on one connection', 5 * HOSTS, async () => {
    for (const t of targets) await Promise.all([1, 2, 3, 4, 5].map(() => ssh(t)`true`));
  });
  const jump = fleet.healthy[0]!.name;
  await count('cold through a jump host (its socket)', HOSTS, async () => {
    for (const h of hosts) await ssh(targetOf(fleet, h, { jump }))`true`;
  });
} finally {
  await ssh.close();
  await fleet.stop();
}
