// `fleetsh demo`: starts a local fleet of embedded SSH servers (ssh2, on loopback, nothing to
// install), runs real fleet jobs against it through the same code as `run` and `rolling` (progress,
// gathered output, an unreachable host, a rolling deployment that stops at its failure budget),
// prints the command line that does the same, and shuts the fleet down.
import { demoPersonalities, startDemoFleet } from '../../demo/index.js';
import { fleet } from '../../fleet/fleet.js';
import type { RollingReport } from '../../fleet/rolling.js';
import { fold } from '../../inventory/fold.js';
import { colorEnabled, palette, type Palette } from '../../render/palette.js';
import { sshTransport, targetsFor } from '../connect.js';
import { EXIT } from '../exit-codes.js';
import { drawn, fleetRunView, runJob } from '../job.js';
import { rollingJob } from './rolling.js';

export interface DemoFlags {
  count?: number;
  progress?: boolean;
  color?: boolean;
}

const VERSION = '2.4.1';

export async function demoCommand(flags: DemoFlags): Promise<void> {
  const colors = palette(flags.color !== false && colorEnabled(process.stdout));
  const say = (text = '') => process.stdout.write(text + '\n');
  const count = flags.count ?? 24;
  const { slow, failing } = demoPersonalities(count);
  const silent = count >= 8 ? [5] : [];

  say(
    colors.bold(
      `fleetsh demo: starting ${count} SSH servers on 127.0.0.1 (embedded in this process, nothing to install)`,
    ),
  );
  const t0 = performance.now();
  const demo = await startDemoFleet({ count, slow, failing, silent, connectTimeout: 2 });
  let interrupted = false;
  try {
    const names = demo.hosts.map((h) => h.name);
    const named = (list: number[]) => fold(list.map((i) => names[i]!));
    say(`ready in ${Math.round(performance.now() - t0)} ms: ${fold(names)}`);
    if (slow.length) say(`  slow to answer: ${named(slow)}`);
    if (failing.length) say(`  broken app (health check fails): ${named(failing)}`);
    if (silent.length) say(`  silent (accepts TCP, never speaks SSH): ${named(silent)}`);
    const transport = await sshTransport();
    const conn = { sshConfig: demo.sshConfigPath, connectTimeout: 2000 };
    const base = ['-F', demo.sshConfigPath, '--connect-timeout', '2s'];
    const common = { hosts: names, save: false as const };

    // 1. A fleet run: progress, gathered output, a failure and an unreachable host, by kind.
    step(colors, say, 1, 'Is the app running everywhere? One command on every host, 8 at a time.', [
      'run',
      ...base,
      '-f',
      '8',
      '-w',
      fold(names),
      '--gather',
      '--',
      'systemctl is-active app',
    ]);
    const check = await runJob({
      ...common,
      ...fleetRunView,
      label: 'demo',
      flags: { gather: true, progress: flags.progress, color: flags.color },
      start: (progress) =>
        drawn(
          fleet(targetsFor(names, conn), { concurrency: 8, connect: transport.connect })
            .run`systemctl is-active app`,
          progress,
        ),
    });
    interrupted ||= process.exitCode === EXIT.interrupted;

    // 2. A rolling deployment on the reachable hosts, stopping at its failure budget.
    const reachable = check.hosts.filter((h) => h.status !== 'unreachable').map((h) => h.host);
    if (!interrupted) {
      step(
        colors,
        say,
        2,
        `Deploy ${VERSION}: batches of 1, 10%, 25%; health check after each host; stop at the first failure.`,
        [
          'rolling',
          ...base,
          '-w',
          fold(reachable),
          '--batches',
          '1,10%,25%',
          '--health',
          'health-check.sh',
          '--max-failures',
          '0',
          '--',
          `deploy.sh --version=${VERSION}`,
        ],
      );
      await runJob<RollingReport>({
        ...common,
        label: 'demo',
        flags: { stream: true, progress: flags.progress, color: flags.color },
        ...rollingJob({
          connect: transport.connect,
          phases: [
            {
              name: 'deploy',
              targets: targetsFor(reachable, conn),
              command: `deploy.sh --version=${VERSION}`,
            },
          ],
          batches: [1, '10%', '25%'],
          healthCheck: 'health-check.sh',
          maxFailures: 0,
        }),
      });
      interrupted ||= process.exitCode === EXIT.interrupted;
    }
    await transport.close();
    if (!interrupted) {
      say();
      say(colors.bold('Try it on your own servers:'));
      say("  fleetsh run -w 'web[01-20].example.com' -- uptime");
      say('  fleetsh run -w @failed -- systemctl restart app     # the hosts that failed last time');
      say('  fleetsh rolling -w @web --batches 1,10%,100% --health ./health-check.sh -- ./deploy.sh');
    }
  } finally {
    say();
    say(`shutting the demo fleet down`);
    await demo.stop();
  }
  // The demo's failures are part of the show; only Ctrl-C changes the status.
  process.exitCode = interrupted ? EXIT.interrupted : EXIT.ok;
}

function step(colors: Palette, say: (t?: string) => void, n: number, title: string, args: string[]): void {
  say();
  say(colors.bold(`${n}. ${title}`));
  say(colors.dim(`   $ fleetsh ${args.map(shellWord).join(' ')}`));
  say();
}

function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}
