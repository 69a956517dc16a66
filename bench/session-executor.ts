// Benchmark: commands on kept connections, one exec request each against the connection's
// persistent shell (src/ssh/shell-session.ts), on the same harness fleet, in one run. Each host runs
// its commands one after another, every host at once (as `fleetsh run` of a script does); the
// connections are made, and each host's first command run, before the clock starts. Prints wall
// time, this process's CPU, and the ratio, for each of `--rounds` rounds (the two paths alternate).
//
//   npx tsx bench/session-executor.ts [--hosts 20] [--commands 50] [--rounds 3] [--command /bin/true]
import { createSsh, type SshFunction } from '../src/ssh/shell.js';
import { SshPool } from '../src/ssh/pool.js';
import { startFleet, type TestFleet } from '../test/harness/fleet.js';

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
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    shells.map(async (s) => {
      for (let i = 0; i < COMMANDS; i++) await s`${COMMAND}`;
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function main(): Promise<void> {
  const fleet = await startFleet({ healthy: HOSTS });
  const exec = sshOf(fleet, false);
  const session = sshOf(fleet, true);
  try {
    console.log(
      `${HOSTS} hosts × ${COMMANDS} × \`${COMMAND}\`, each host's commands in sequence, all hosts at once`,
    );
    console.log('round  exec wall  session wall  wall ×   exec CPU  session CPU');
    for (let round = 1; round <= ROUNDS; round++) {
      const [a, b] =
        round % 2 === 1
          ? [await run(fleet, exec), await run(fleet, session)]
          : await run(fleet, session).then(async (s) => [await run(fleet, exec), s]);
      console.log(
        `${String(round).padStart(5)}  ${(a.wallMs / 1000).toFixed(2).padStart(7)} s  ${(b.wallMs / 1000).toFixed(2).padStart(10)} s  ${(a.wallMs / b.wallMs).toFixed(2).padStart(5)}  ${(a.cpuMs / 1000).toFixed(2).padStart(7)} s  ${(b.cpuMs / 1000).toFixed(2).padStart(9)} s`,
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
