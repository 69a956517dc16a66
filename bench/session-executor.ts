// Benchmark: commands on kept connections, one exec request each against the connection's
// persistent shell (src/ssh/shell-session.ts), on the same harness fleet, in one run. Each host runs
// its commands one after another, every host at once (as `fleetsh run` of a script does); the
// connections are made, and each host's first command run, before the clock starts. Prints wall
// time, this process's CPU, the hosts' CPU (every sshd, shell and command of the harness fleet, from
// /proc: what a loaded machine does not blur) and the ratios, for each of `--rounds` rounds (the two
// paths alternate).
//
//   npx tsx bench/session-executor.ts [--hosts 20] [--commands 50] [--rounds 3] [--command /bin/true]
import { readFileSync } from 'node:fs';
import { createSsh, type SshFunction } from '../src/ssh/shell.js';
import { SshPool } from '../src/ssh/pool.js';
import { startFleet, type TestFleet } from '../test/harness/fleet.js';
import { fleetPids, pidsMentioning } from '../test/harness/procs.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const HOSTS = Number(arg('hosts', '20'));
const COMMANDS = Number(arg('commands', '50'));
const ROUNDS = Number(arg('rounds', '3'));
const COMMAND = arg('command', '/bin/true');

interface Sample {
  wallMs: number;
  cpuMs: number;
  hostCpuMs: number;
}

/** CPU time of the fleet's processes and of the children they reaped (ms; Linux ticks of 10 ms). */
function hostCpuMs(fleet: TestFleet): number {
  const listeners = pidsMentioning(fleet.dir).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('[listener]');
    } catch {
      return false;
    }
  });
  let ticks = 0;
  for (const pid of fleetPids(listeners, fleet.dir)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10;
}

function sshOf(fleet: TestFleet, persistentShell: boolean): SshFunction {
  return createSsh(new SshPool({ onWarning: () => {}, persistentShell }), {
    homedir: fleet.dir,
    env: {},
    systemConfigFile: false,
    globalKnownHostsFiles: [],
  });
}

async function run(fleet: TestFleet, ssh: SshFunction): Promise<Sample> {
  const shells = fleet.healthy.map((h) => ssh({ host: h.name, sshConfig: fleet.sshConfigPath }));
  // Connected, first command run (it is an exec request on both paths), the shell started.
  await Promise.all(shells.map(async (s) => (await s`true`, await s`true`)));
  const host0 = hostCpuMs(fleet);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    shells.map(async (s) => {
      for (let i = 0; i < COMMANDS; i++) await s`${COMMAND}`;
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, hostCpuMs: hostCpuMs(fleet) - host0 };
}

async function main(): Promise<void> {
  const fleet = await startFleet({ healthy: HOSTS });
  const exec = sshOf(fleet, false);
  const session = sshOf(fleet, true);
  try {
    console.log(
      `${HOSTS} hosts × ${COMMANDS} × \`${COMMAND}\`, each host's commands in sequence, all hosts at once`,
    );
    console.log(
      'round  exec wall  session wall  wall ×  exec CPU  session CPU  CPU ×  exec host CPU  session host CPU  host CPU ×',
    );
    const sec = (ms: number, w: number) => `${(ms / 1000).toFixed(2).padStart(w)} s`;
    const ratio = (a: number, b: number, w: number) => (a / b).toFixed(2).padStart(w);
    for (let round = 1; round <= ROUNDS; round++) {
      const [a, b] =
        round % 2 === 1
          ? [await run(fleet, exec), await run(fleet, session)]
          : await run(fleet, session).then(async (s) => [await run(fleet, exec), s]);
      console.log(
        `${String(round).padStart(5)}  ${sec(a.wallMs, 7)}  ${sec(b.wallMs, 10)}  ${ratio(a.wallMs, b.wallMs, 6)}  ${sec(a.cpuMs, 6)}  ${sec(b.cpuMs, 9)}  ${ratio(a.cpuMs, b.cpuMs, 5)}  ${sec(a.hostCpuMs, 11)}  ${sec(b.hostCpuMs, 14)}  ${ratio(a.hostCpuMs, b.hostCpuMs, 10)}`,
      );
    }
  } finally {
    await exec.close();
    await session.close();
    await fleet.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
