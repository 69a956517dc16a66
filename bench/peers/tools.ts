// The command lines bench/peers.ts runs: the fleetsh CLI (plain, or through `fleetsh agent` when
// this build has one) and the peers an operator would use for the same job, each at the same
// fan-out, against the same harness hosts through a generated ssh_config (`-F`):
//   run:  pdsh -R ssh, clush, parallel-ssh -i, ansible -m command (forks = fan-out)
//   copy: pdcp -R ssh, clush --copy, parallel-scp, ansible -m copy
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cmd } from './measure.js';

export interface Peer {
  bin: string;
  apt: string;
  path?: string;
}

const which = (bin: string) =>
  spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim() || undefined;

export const PEERS: Record<string, Peer> = {
  pdsh: { bin: 'pdsh', apt: 'pdsh' },
  pdcp: { bin: 'pdcp', apt: 'pdsh' },
  clush: { bin: 'clush', apt: 'clustershell' },
  pssh: { bin: 'parallel-ssh', apt: 'pssh' },
  pscp: { bin: 'parallel-scp', apt: 'pssh' },
  ansible: { bin: 'ansible', apt: 'ansible' },
};
for (const p of Object.values(PEERS)) p.path = which(p.bin);

/** Everything the command lines need, set up once by the bench. */
export interface Setup {
  scratch: string;
  fanout: number;
  cli: string;
  /** The harness's ssh_config, which fleetsh reads. */
  harnessConfig: string;
  /** For the OpenSSH-based peers: the harness's hosts + curve25519-sha256, BatchMode, no ControlMaster. */
  curveConfig: string;
  /** The same with OpenSSH's default key exchange. */
  defaultKexConfig: string;
  /** curve25519 + ControlMaster auto / ControlPersist, sockets under cmDir/m. */
  cmConfig: string;
  cmDir: string;
  inventory: string;
  /** XDG_RUNTIME_DIR of every fleetsh CLI run: the agent's socket lives there, apart from the user's. */
  xdg: string;
  /** Count of ansible control dirs made so far. */
  controlDirs: number;
}

function hostsFile(s: Setup, hosts: string[]): string {
  const file = join(s.scratch, `hosts.${hosts.length}`);
  if (!existsSync(file)) writeFileSync(file, hosts.join('\n') + '\n');
  return file;
}

/** Each CLI run records itself in a journal of its own (`journal`, a fresh path), read back by `cliRunHosts`. */
export function cliEnv(s: Setup, agent: boolean, journal: string): Record<string, string> {
  return {
    XDG_RUNTIME_DIR: s.xdg,
    FLEETSH_JOURNAL: journal,
    // the agent's switch; a build without an agent ignores it
    ...(agent ? {} : { FLEETSH_NO_AGENT: '1' }),
  };
}

/** `extra`: flags after fleetsh's own (a later `-F` wins; `--transport openssh`). */
export function cliRun(
  s: Setup,
  hosts: string[],
  command: string,
  agent: boolean,
  journal: string,
  env: Record<string, string> = {},
  extra: string[] = [],
): Cmd {
  return {
    file: process.execPath,
    args: [
      s.cli,
      'run',
      '-w',
      hosts.join(','),
      '-f',
      String(s.fanout),
      '-F',
      s.harnessConfig,
      '--no-progress',
      '--',
      command,
    ],
    env: { ...cliEnv(s, agent, journal), ...env },
  };
}

export function cliCopy(
  s: Setup,
  hosts: string[],
  src: string,
  dest: string,
  agent: boolean,
  journal: string,
): Cmd {
  return {
    file: process.execPath,
    args: [
      s.cli,
      'copy',
      '-w',
      hosts.join(','),
      '-f',
      String(s.fanout),
      '-F',
      s.harnessConfig,
      '--no-progress',
      src,
      dest,
    ],
    env: cliEnv(s, agent, journal),
  };
}

/**
 * Each host's status in the newest run of a CLI run's journal, as `fleetsh show last --json` prints
 * it (docs/journal.md): the CLI's own word for every host.
 */
export function cliRunHosts(s: Setup, journal: string): { host: string; status: string }[] {
  const r = spawnSync(process.execPath, [s.cli, 'show', 'last', '--json', '--journal', journal], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: s.xdg },
    timeout: 30_000,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0)
    throw new Error(`fleetsh show last --json: exit ${r.status}: ${(r.stderr ?? '').trim().slice(0, 300)}`);
  const doc = JSON.parse(r.stdout) as { report: { hosts: { host: string; status: string }[] } };
  return doc.report.hosts;
}

/**
 * Whether this build of the CLI has `fleetsh agent`: its help is the subcommand's own. (Without the
 * subcommand, commander answers `agent --help` with the main help and exit 0, and `agent status` with
 * "unknown command" and 64.)
 */
export function hasAgent(s: Setup): boolean {
  const r = spawnSync(process.execPath, [s.cli, 'agent', '--help'], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: s.xdg },
    timeout: 30_000,
  });
  return r.status === 0 && /^Usage: fleetsh agent\b/.test(r.stdout);
}

export function stopAgent(s: Setup): void {
  spawnSync(process.execPath, [s.cli, 'agent', 'stop'], {
    env: { ...process.env, XDG_RUNTIME_DIR: s.xdg },
    stdio: 'ignore',
    timeout: 30_000,
  });
}

/** A peer running `command` on hosts through ssh_config `config`. */
export function peerRun(
  s: Setup,
  peer: 'pdsh' | 'clush' | 'pssh',
  hosts: string[],
  command: string,
  config: string,
): Cmd {
  const f = String(s.fanout);
  switch (peer) {
    case 'pdsh': // -S: exit with the largest remote exit status
      return {
        file: PEERS.pdsh!.path!,
        args: ['-S', '-R', 'ssh', '-f', f, '-w', hosts.join(','), command],
        env: { PDSH_SSH_ARGS_APPEND: `-F ${config}` },
      };
    case 'clush':
      return {
        file: PEERS.clush!.path!,
        args: ['-f', f, '-w', hosts.join(','), `--options=-F ${config}`, command],
      };
    case 'pssh': // -t 0: no timeout (default 60 s); -i: print each host's output when it ends
      return {
        file: PEERS.pssh!.path!,
        args: ['-p', f, '-t', '0', '-i', '-h', hostsFile(s, hosts), '-x', `-F ${config}`, command],
      };
  }
}

/** A peer copying src to dest on every host (curve25519, no ControlMaster). */
export function peerCopy(
  s: Setup,
  peer: 'pdcp' | 'clush' | 'pscp',
  hosts: string[],
  src: string,
  dest: string,
): Cmd {
  const f = String(s.fanout);
  switch (peer) {
    case 'pdcp': // runs `pdcp -z dest` on each host: pdcp must be on the hosts' PATH (here: this machine)
      return {
        file: PEERS.pdcp!.path!,
        args: ['-R', 'ssh', '-f', f, '-w', hosts.join(','), src, dest],
        env: { PDSH_SSH_ARGS_APPEND: `-F ${s.curveConfig}` },
      };
    case 'clush':
      return {
        file: PEERS.clush!.path!,
        args: [
          '-f',
          f,
          '-w',
          hosts.join(','),
          `--options=-F ${s.curveConfig}`,
          '--copy',
          src,
          '--dest',
          dest,
        ],
      };
    case 'pscp':
      return {
        file: PEERS.pscp!.path!,
        args: ['-p', f, '-t', '0', '-h', hostsFile(s, hosts), '-x', `-F ${s.curveConfig}`, src, dest],
      };
  }
}

/** Ansible's settings: its defaults, but no host key prompts, pipelining, no interpreter discovery. */
export function ansibleEnv(s: Setup, controlDir: string): Record<string, string> {
  return {
    ANSIBLE_HOST_KEY_CHECKING: 'False', // known_hosts is set up in the ssh_config anyway
    ANSIBLE_PIPELINING: 'True', // one ssh session per module instead of put + run + clean up
    ANSIBLE_HOME: join(s.scratch, 'ansible-home'),
    ANSIBLE_LOCAL_TEMP: join(s.scratch, 'ansible-local'),
    ANSIBLE_REMOTE_TMP: join(s.scratch, 'ansible-remote'),
    ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir, // default ssh_args: -C -o ControlMaster=auto -o ControlPersist=60s
    ANSIBLE_NOCOLOR: 'True',
    ANSIBLE_DEPRECATION_WARNINGS: 'False',
    ANSIBLE_SYSTEM_WARNINGS: 'False',
    ANSIBLE_CONFIG: join(s.scratch, 'ansible.cfg'), // empty: not ./ansible.cfg or ~/.ansible.cfg
  };
}

function ansiblePattern(hosts: string[], all: number): string {
  return hosts.length === all ? 'all' : hosts.join(':');
}

/** `ansible -m command` (its default module), one line a host (-o), forks = fan-out. */
export function ansibleRun(s: Setup, hosts: string[], all: number, command: string, controlDir: string): Cmd {
  return {
    file: PEERS.ansible!.path!,
    args: [
      ansiblePattern(hosts, all),
      '-i',
      s.inventory,
      '-f',
      String(s.fanout),
      '-o',
      '-m',
      'command',
      '-a',
      command,
    ],
    env: ansibleEnv(s, controlDir),
  };
}

/**
 * `ansible -m copy` to a path of each host's own (`destDir/<host>`): every harness host is this
 * machine, and with one path Ansible would find the file already there and skip the transfer.
 */
export function ansibleCopy(
  s: Setup,
  hosts: string[],
  all: number,
  src: string,
  destDir: string,
  controlDir: string,
): Cmd {
  return {
    file: PEERS.ansible!.path!,
    args: [
      ansiblePattern(hosts, all),
      '-i',
      s.inventory,
      '-f',
      String(s.fanout),
      '-o',
      '-m',
      'copy',
      '-a',
      `src=${src} dest=${destDir}/{{ inventory_hostname }}`,
    ],
    env: ansibleEnv(s, controlDir),
  };
}
