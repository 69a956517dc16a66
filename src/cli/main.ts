// `fleetsh`: the command line over the library. This file only declares the commands and their
// flags; each action imports its module when it runs, so `fleetsh hosts` never loads ssh2 and
// start-up stays fast (docs/cli.md lists the exit codes).
import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, Option } from 'commander';
import { reportError } from './errors.js';
import { EXIT } from './exit-codes.js';
import { blockOnPipes } from './blocking-stdio.js';
import { watchStdout } from './stdout-closed.js';
import {
  parseBatches,
  parseBudget,
  parseCount,
  parseDurationFlag,
  parseFanout,
  parseMode,
} from './options.js';

/** Set by the CLI bundle's build (scripts/bundle.mjs) to package.json's version. */
declare const FLEETSH_VERSION: string | undefined;

/** package.json's version: built into the bundle, or read beside the modules (dist/ or src/, one folder below it). */
function version(): string {
  if (typeof FLEETSH_VERSION === 'string') return FLEETSH_VERSION;
  try {
    const file = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown'; // the modules copied away from their package
  }
}

/** Flags every command that reaches hosts takes: the selection and how to connect. */
function selection(cmd: Command, required = true): Command {
  const w = new Option(
    '-w, --hosts <hosts>',
    'host set: web[1-20],db1 user@host:port [v6]:port @group @failed ^file (! and & too); - reads a list from stdin',
  );
  if (required) w.makeOptionMandatory();
  return journal(
    cmd
      .addOption(w)
      .option('-x, --exclude <hosts>', 'hosts to leave out of the selection')
      .option('-i, --inventory <file>', 'inventory file (default: ./fleetsh.yml when present)'),
  );
}

/** The run journal: where it is, or none (runs are recorded; @failed and friends read it). */
function journal(cmd: Command): Command {
  return cmd
    .option('--journal <file>', 'the run journal (default: $XDG_STATE_HOME/fleetsh/journal.db)')
    .option('--no-journal', 'record nothing in the journal (and keep no @failed for the next run)');
}

function connection(cmd: Command): Command {
  return cmd
    .option('-l, --user <user>', 'log in as this user (default: ssh_config, inventory, then your name)')
    .option('-p, --port <port>', 'SSH port', (v) => parseCount(v, '-p/--port', 'a port number'))
    .option('--identity <file>', 'private key file')
    .option('-F, --ssh-config <file>', 'ssh_config file (default: ~/.ssh/config)')
    .option('--known-hosts <file>', 'known_hosts file (default: ~/.ssh/known_hosts)')
    .option('--connect-timeout <duration>', 'connect timeout, e.g. 10s (default: 10s)', (v) =>
      parseDurationFlag(v, '--connect-timeout'),
    )
    .option('--no-agent', 'connect directly, not through the fleetsh agent (also FLEETSH_NO_AGENT=1)')
    .addOption(
      new Option(
        '--transport <transport>',
        "ssh2 (fleetsh's own client, the default) or openssh (the system ssh, one ControlMaster a host)",
      ).choices(['ssh2', 'openssh']),
    )
    .option(
      '-v, --verbose',
      'say which transport each host takes when its ssh_config or an option chose it, and why',
    );
}

/** -A, as ssh's: the commands that run something on the hosts take it. */
function forwardAgent(cmd: Command): Command {
  return cmd.option(
    '-A, --forward-agent',
    'forward your ssh-agent to each host (as ssh -A; ssh_config: ForwardAgent)',
  );
}

/** --nats: the hosts' commands run on fleetsh workers through NATS JetStream (docs/scale-out.md). */
function nats(cmd: Command): Command {
  return cmd
    .option(
      '--nats <url>',
      "run each host's command on a fleetsh worker of its zone, through this NATS server",
    )
    .option('--nats-creds <file>', 'NATS credentials file (JWT and NKey seed), as nats --creds')
    .option('--nats-tls-ca <file>', "CA certificate to trust for the NATS server's TLS")
    .option('--nats-tls-cert <file>', 'client certificate for NATS (mutual TLS)')
    .option('--nats-tls-key <file>', "the client certificate's key")
    .option('--nats-prefix <prefix>', "the workers' subjects and streams start with this (default: fleetsh)");
}

/** Flags of the commands that run something on many hosts. */
function execution(cmd: Command): Command {
  return cmd
    .option('-f, --fanout <n|adaptive>', 'hosts at once, or adaptive (default: 64)', parseFanout)
    .option('-t, --timeout <duration>', 'kill each command after this long (on its host)', (v) =>
      parseDurationFlag(v, '--timeout'),
    )
    .option('--deadline <duration>', 'stop the whole run after this long', (v) =>
      parseDurationFlag(v, '--deadline'),
    )
    .option('--retries <n>', 'retry unreachable hosts n times with backoff', (v) =>
      parseCount(v, '--retries', 'a number of retries', 0),
    )
    .option('--retry-failed', 'also retry hosts whose command failed (only for idempotent commands)')
    .addOption(
      new Option('--fail-fast', 'stop starting hosts after the first failure').conflicts('maxFailures'),
    )
    .option('--max-failures <n|n%>', 'stop starting hosts once more than this many failed', (v) =>
      parseBudget(v),
    )
    .option('--dry-run', 'run nothing: show what each host would use (user, address, keys) and its host key');
}

/** sudo and a terminal for each command (`run`, `script`). */
function privilege(cmd: Command): Command {
  return cmd
    .option('--sudo', 'run the command through sudo on each host, as root (without a password: sudo -n)')
    .option('--sudo-user <user>', 'run it through sudo as this user (implies --sudo)')
    .option('--ask-sudo-pass', "ask once for sudo's password, on the terminal, without echo (implies --sudo)")
    .option('--tty', 'give each command a pseudo-terminal: stdout and stderr merged, CRLF line ends');
}

function output(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--stream', 'print lines as they come, prefixed with the host (default)').conflicts(
        'gather',
      ),
    )
    .addOption(
      new Option(
        '--gather',
        'no live lines: at the end the outputs gathered by host set, each cut to 10 lines',
      ),
    )
    .addOption(
      new Option('--json', 'print one JSON report at the end').conflicts(['ndjson', 'stream', 'gather']),
    )
    .addOption(
      new Option('--ndjson', 'print one JSON event a line as it happens').conflicts(['stream', 'gather']),
    )
    .option('--output-dir <dir>', "write each host's stdout and stderr to DIR/<host>.out and .err")
    .option('--no-progress', 'no progress line, even on a terminal')
    .option('--no-color', 'no colours, even on a terminal')
    .option('--raw', "print hosts' output as it came (default: control characters escaped)");
}

/** pdsh's -N and -S, for the commands whose output is the hosts' (run, script). */
function pdshOutput(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '-N, --no-prefix',
        "print hosts' lines without the host prefix (the end of the run on stderr)",
      ).conflicts(['json', 'ndjson', 'gather']),
    )
    .option('-S, --max-exit', 'exit with the largest remote exit status (timeout 124, unreachable 255)');
}

export function buildProgram(): Command {
  const program = new Command('fleetsh')
    .description('Run commands across fleets of SSH servers.')
    .version(version(), '-V, --version')
    .enablePositionalOptions()
    .showSuggestionAfterError()
    .configureHelp({ sortOptions: false })
    .exitOverride()
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        "  fleetsh run -w 'web[01-20]' -- uptime",
        '  fleetsh run -w @failed -- systemctl restart app',
        '  fleetsh script -w @web ./check.sh --verbose',
        "  printf 'deploy@web1:2222\\nweb2\\n' | fleetsh run -w - -- uptime",
        '  fleetsh rolling -w @web --batches 1,10%,100% --health ./check.sh -- ./deploy.sh',
        '  fleetsh demo',
        '',
        'Exit status: 0 every host succeeded, 1 a command failed, 2 a host was unreachable,',
        '64 usage error, 70 internal error, 130 interrupted, 141 stdout closed.',
      ].join('\n'),
    );

  const run = program
    .command('run')
    .description('run one command on every selected host')
    .usage('-w HOSTS [options] -- COMMAND...')
    .argument('<command...>', 'the command line (run by the login shell on each host)')
    .passThroughOptions();
  selection(run);
  execution(run);
  privilege(run);
  output(run);
  nats(run);
  pdshOutput(run).option(
    '--stdin-file <file>',
    "send this file to every host's command as its input (- for stdin; default: stdin unless a terminal)",
  );
  forwardAgent(connection(run)).action(async (words: string[], opts, cmd: Command) => {
    const { runCommand } = await import('./commands/run.js');
    await runCommand(words, { ...cmd.optsWithGlobals(), ...opts });
  });

  const script = program
    .command('script')
    .description('run a local script on every selected host: its text goes over stdin to its #! interpreter')
    .usage('-w HOSTS [options] ./script [ARGS...]')
    .argument(
      '<script>',
      'local script (its #! line names the interpreter: sh, bash, python3, perl, ...; sh without one)',
    )
    .argument('[args...]', "the script's arguments")
    .passThroughOptions();
  selection(script);
  execution(script);
  privilege(script);
  output(script);
  pdshOutput(script);
  nats(script);
  forwardAgent(connection(script)).action(async (file: string, args: string[], opts) => {
    const { scriptCommand } = await import('./commands/script.js');
    await scriptCommand(file, args, opts);
  });

  const copy = program
    .command('copy')
    .description('copy a local file to every selected host (with backup, validation and reload)')
    .argument('<src>', 'local file')
    .argument('<dest>', 'remote path')
    .option('--mode <octal>', 'file mode on the hosts, e.g. 0644', parseMode)
    .option(
      '--verify',
      'read each copy back before it takes its place: its SHA-256 computed on the host (runs sha256sum there)',
    )
    .option('--backup', 'sync: leave unchanged hosts alone, keep the previous file as DEST.fleetsh-backup')
    .option('--validate <command>', 'check the new file on each host; on failure the old one is restored')
    .option('--reload <command>', 'run after the file changed, e.g. systemctl reload nginx');
  selection(copy);
  execution(copy);
  nats(copy);
  output(copy);
  connection(copy).action(async (src: string, dest: string, opts) => {
    const { copyCommand } = await import('./commands/copy.js');
    await copyCommand(src, dest, opts);
  });

  const pull = program
    .command('pull')
    .description(
      'get a file or a directory from every selected host into LOCALDIR/<host>/, each file checked',
    )
    .argument('<remote>', 'remote file or directory')
    .argument('<localdir>', 'local folder: each host gets a folder of its own in it');
  selection(pull);
  execution(pull);
  nats(pull);
  output(pull);
  connection(pull).action(async (remote: string, localDir: string, opts) => {
    const { pullCommand } = await import('./commands/pull.js');
    await pullCommand(remote, localDir, opts);
  });

  const rolling = program
    .command('rolling')
    .description('deploy in batches with a health check between them, stopping at the failure budget')
    .usage('-w HOSTS --batches 1,10%,100% --health CMD [options] -- COMMAND...')
    .argument('<command...>', 'the deployment command')
    .requiredOption('--batches <sizes>', 'batch sizes, e.g. 1,10%,100% (the last repeats)', parseBatches)
    .option('--health <command>', 'health check run on each host of a batch after the command')
    .option('--pause <duration>', 'wait between batches', (v) => parseDurationFlag(v, '--pause'))
    .passThroughOptions();
  selection(rolling);
  execution(rolling);
  nats(rolling);
  output(rolling);
  connection(rolling).action(async (words: string[], opts) => {
    const { rollingCommand } = await import('./commands/rolling.js');
    await rollingCommand(words, opts);
  });

  program
    .command('worker')
    .description(
      "run hosts' commands and copies for fleetsh coordinators (--nats on run, script, rolling, copy): pulled from NATS",
    )
    .requiredOption(
      '--nats <url>',
      'the NATS server (JetStream on): nats://host:4222, several comma-separated',
    )
    .option('--zone <name>', 'the zone whose jobs this worker runs (default: default)')
    .option('--concurrency <n>', 'jobs at once (default: 32)', (v) => parseCount(v, '--concurrency'))
    .option('--creds <file>', 'NATS credentials file (JWT and NKey seed), as nats --creds')
    .option('--tls-ca <file>', "CA certificate to trust for the NATS server's TLS")
    .option('--tls-cert <file>', 'client certificate for NATS (mutual TLS)')
    .option('--tls-key <file>', "the client certificate's key")
    .option('--prefix <prefix>', 'subjects and streams start with this (default: fleetsh)')
    .option(
      '--heartbeat <duration>',
      'how often to tell coordinators this worker is alive (default: 2s)',
      (v) => parseDurationFlag(v, '--heartbeat'),
    )
    .option(
      '--ack-wait <duration>',
      "the work queue's ack wait, as coordinators set it (default: 30s)",
      (v) => parseDurationFlag(v, '--ack-wait'),
    )
    .action(async (opts) => {
      const { workerCommand } = await import('./commands/worker.js');
      await workerCommand(opts);
    });

  const ping = program
    .command('ping')
    .description('connect and authenticate: latency and host key type per host');
  selection(ping);
  ping
    .option('-f, --fanout <n|adaptive>', 'hosts at once (default: 64)', parseFanout)
    .option('--retries <n>', 'retry unreachable hosts n times', (v) =>
      parseCount(v, '--retries', 'a number', 0),
    )
    .option('--json', 'print one JSON report')
    .option('--no-color', 'no colours')
    .option('--raw', "print hosts' messages as they came (default: control characters escaped)");
  connection(ping).action(async (opts) => {
    const { pingCommand } = await import('./commands/ping.js');
    await pingCommand(opts);
  });

  const hosts = program
    .command('hosts')
    .description('expand a host set (one host a line), or fold or count it')
    .argument('[hosts...]', 'host set(s), the same as -w');
  selection(hosts, false)
    .option('--fold', 'print the shortest host set instead: web[1-3,7]')
    .option('-c, --count', 'print the number of hosts')
    .option('--json', 'print a JSON array of hosts')
    .option('--groups', "list the inventory's groups and their hosts")
    .action(async (args: string[], opts) => {
      const { hostsCommand } = await import('./commands/hosts.js');
      await hostsCommand(args, opts);
    });

  const agent = program
    .command('agent')
    .description('the agent that keeps connections warm between runs: start, status or stop it')
    .addArgument(new Argument('<action>', 'what to do').choices(['start', 'status', 'stop', 'serve']))
    .option(
      '--idle-timeout <duration>',
      'start: stop after this long with no client and no command (default: 10m)',
      (v) => parseDurationFlag(v, '--idle-timeout'),
    )
    .option('--json', 'status: print it as JSON');
  agent.action(async (action: string, opts) => {
    const { agentCommand } = await import('./commands/agent.js');
    await agentCommand(action, opts);
  });

  program
    .command('demo')
    .description('start a local fleet of embedded SSH servers and show what fleetsh does')
    .option('-n, --count <n>', 'servers in the demo fleet (default: 24)', (v) => parseCount(v, '--count'))
    .option('--no-progress', 'no progress line')
    .option('--no-color', 'no colours')
    .action(async (opts) => {
      const { demoCommand } = await import('./commands/demo.js');
      await demoCommand(opts);
    });

  journal(
    program
      .command('history')
      .description('list recent runs from the journal: id, when, who, what, outcome, counts')
      .option('-n, --limit <n>', 'runs to list (default: 20)', (v) => parseCount(v, '--limit'))
      .option('--json', 'print a JSON array of runs')
      .option('--no-color', 'no colours'),
  ).action(async (opts) => {
    const { historyCommand } = await import('./commands/history.js');
    await historyCommand(opts);
  });

  journal(
    program
      .command('show')
      .description("print a past run's report from the journal, as the run printed it")
      .argument('<run>', 'a run number (fleetsh history lists them), or last')
      .option('--json', 'print the run and its report as JSON')
      .option('--no-color', 'no colours')
      .option('--raw', "print hosts' output as it came (default: control characters escaped)"),
  ).action(async (run: string, opts) => {
    const { showCommand } = await import('./commands/show.js');
    await showCommand(run, opts);
  });

  journal(
    program
      .command('resume')
      .description('continue a run or rolling deployment that did not end; finished hosts are not run again')
      .argument('<run>', 'a run number (fleetsh history lists them), or last')
      .addOption(
        new Option(
          '--rerun-interrupted',
          'run the hosts that were in flight when it stopped again',
        ).conflicts('skipInterrupted'),
      )
      .option('--skip-interrupted', 'leave the hosts that were in flight when it stopped as they are'),
  ).action(async (run: string, opts) => {
    const { resumeCommand } = await import('./commands/resume.js');
    await resumeCommand(run, opts);
  });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  watchStdout();
  blockOnPipes();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander printed its message already; help and --version are not errors.
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    // Flag parsers throw CliUsageError, which commander passes through as is.
    reportError(e);
  }
}
