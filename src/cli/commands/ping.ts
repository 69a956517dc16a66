// `fleetsh ping -w HOSTS`: connect and authenticate to every host, then run `true` over the same
// connection: the handshake time, one command's round trip, the user and address ssh_config gave,
// and the host key the server presented in the handshake (verified against known_hosts).
import { fleet } from '../../fleet/fleet.js';
import { runLine } from '../../fleet/line.js';
import type { FleetReport } from '../../fleet/report.js';
import type { FleetShell } from '../../fleet/target.js';
import type { SshShell } from '../../ssh/shell.js';
import { targetsFor, sshTransport, type ConnectionFlags } from '../connect.js';
import { drawn, fleetOptions, noHosts, runJob, type OutputFlags } from '../job.js';
import type { Palette } from '../../render/palette.js';
import { reportText } from '../../render/report-text.js';
import { selectHosts, type SelectOptions } from '../select.js';

export type PingFlags = SelectOptions &
  ConnectionFlags & {
    fanout?: number | 'adaptive';
    retries?: number;
    json?: boolean;
    color?: boolean;
    progress?: boolean;
    raw?: boolean;
  };

export interface Ping {
  user: string;
  address: string;
  /** Resolution, TCP and SSH handshake, authentication: the host's time less the command's. */
  connectMs: number;
  execMs: number;
  hostKeyType: string;
  hostKeyFingerprint: string;
}

export async function pingCommand(flags: PingFlags): Promise<void> {
  const selection = await selectHosts(flags);
  const { hosts } = selection;
  if (hosts.size === 0) return noHosts(flags);
  const transport = await sshTransport({ verbose: flags.verbose });
  const f = fleet(targetsFor(hosts.hosts, flags, selection.settings), {
    ...fleetOptions({ fanout: flags.fanout, retries: flags.retries }),
    connect: transport.connect,
  });
  await runJob<FleetReport<Ping>>({
    label: 'ping',
    hosts: hosts.hosts,
    flags: {
      json: flags.json,
      gather: !flags.json,
      color: flags.color,
      progress: flags.progress,
      raw: flags.raw,
      hosts: flags.hosts,
      journal: flags.journal,
    } as OutputFlags,
    start: (progress) => drawn(f.each<Ping>(ping, 'ping'), progress),
    results: (report) => report.hosts,
    text: (report, colors, opts) => renderPings(withConnectTimes(report), colors, opts),
    json: (report) => withConnectTimes(report).toJSON(),
    cleanup: () => transport.close(),
  });
}

// The fleet engine has the host connected (or connecting) before the task runs, so the handshake is
// measured as the host's whole time less the command's round trip (withConnectTimes).
const ping = async (shell: FleetShell): Promise<Ping> => {
  const ssh = shell as unknown as SshShell;
  await ssh.connect();
  const t1 = performance.now();
  await runLine(shell, 'true');
  const t2 = performance.now();
  const target = await ssh.resolve();
  // Over the OpenSSH transport, ssh checked the host key itself and does not say which it was.
  const hostKey =
    (await ssh.transport()) === 'openssh' ? { type: 'checked by ssh', fingerprint: '' } : await ssh.hostKey();
  return {
    user: target.user,
    address: `${target.hostname}:${target.port}`,
    connectMs: 0,
    execMs: Math.round(t2 - t1),
    hostKeyType: hostKey.type,
    hostKeyFingerprint: hostKey.fingerprint,
  };
};

function withConnectTimes(report: FleetReport<Ping>): FleetReport<Ping> {
  for (const h of report.hosts) {
    if (h.value)
      h.value.connectMs = Math.max(0, (h.attempts.at(-1)?.durationMs ?? h.durationMs) - h.value.execMs);
  }
  return report;
}

function renderPings(
  report: FleetReport<Ping>,
  colors: Palette,
  opts: { groups: boolean; interrupted: boolean },
): string {
  const rows = report.hosts
    .filter((h) => h.status === 'ok' && h.value)
    .map((h) =>
      [
        h.host,
        h.value!.user,
        h.value!.address,
        `${h.value!.connectMs} ms`,
        `${h.value!.execMs} ms`,
        h.value!.hostKeyType,
      ].map(colors.show),
    );
  const out: string[] = [];
  if (rows.length > 0) {
    const head = ['HOST', 'USER', 'ADDRESS', 'CONNECT', 'EXEC', 'HOST KEY'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const pad = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)));
    out.push(colors.bold(pad(head).join('  ')));
    for (const r of rows) {
      const [host, ...rest] = pad(r);
      out.push([colors.host(host!), ...rest].join('  '));
    }
  }
  out.push(reportText(report, colors, { ...opts, groups: false }));
  return out.join('\n');
}
