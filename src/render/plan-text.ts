// The one text of a dry run (`fleet.plan()`, `fleetsh ... --dry-run`): for each host, what a run
// would use (user, address, port, jump chain, ProxyCommand, the agent and key files in the order
// they would be offered) and what it would meet (the host key against known_hosts, the files a sync
// would change); then the batches of a rolling deployment, every host the dry run reached and how
// far, and a summary line. Names, paths and messages go through colors.show before any colour.
import type { HostKeyPlan, HostPlan, PlanData, TargetPlan } from '../fleet/plan-data.js';
import { formatMs } from '../process/errors.js';
import type { Palette } from './palette.js';

const PAD = 10; // the width of the labels ('host key  ')

/** The dry run as lines of text, without a final newline. */
export function planText(plan: PlanData, colors: Palette): string {
  const out: string[] = [];
  const compared = plan.changes !== null;
  out.push(
    colors.bold(
      `dry run${plan.action ? ` of: ${colors.show(plan.action)}` : ''} (nothing is run${compared ? ' but a read-only checksum per file' : ''})`,
    ),
  );
  for (const h of plan.hosts) out.push(...hostLines(h, colors));
  if (plan.batches) {
    out.push(colors.bold('batches:'));
    for (const b of plan.batches)
      out.push(
        `  ${colors.show(b.phase)} batch ${b.number}: ${colors.host(colors.show(b.hosts))} (${b.count})`,
      );
  }
  if (plan.changes) {
    const c = plan.changes;
    const parts = [
      c.change && `a sync would change ${colors.show(c.change)}`,
      c.unchanged && `would leave ${colors.show(c.unchanged)} alone (same SHA-256)`,
      c.notCompared && `could not compare ${colors.show(c.notCompared)}`,
    ].filter(Boolean);
    out.push(`files: ${parts.join('; ')}`);
  }
  out.push(contactLine(plan, colors));
  out.push(summary(plan, colors));
  return out.join('\n');
}

function hostLines(h: HostPlan, colors: Palette): string[] {
  const head =
    h.status === 'ready'
      ? colors.ok('ready')
      : h.status === 'not-checked'
        ? colors.warn('not checked')
        : colors.fail(
            `${h.status === 'host-key' ? 'host key refused' : 'unreachable'}${h.kind ? ` (${h.kind})` : ''}`,
          );
  const out = [`${colors.host(colors.show(h.host))}: ${head}`];
  const c = h.connection;
  if (c) out.push(...connectionLines(c, colors));
  // A refused key of the host itself is told by its host key line; anything else gets a reason.
  const told = h.status === 'host-key' && c?.hostKey.verdict === 'refuse';
  if (h.status !== 'ready' && h.reason && !told) out.push(...field('why', colors.show(h.reason)));
  if (h.files)
    for (const f of h.files)
      out.push(
        ...field(
          'file',
          `${colors.show(f.remote)}: ${
            f.change === 'unchanged'
              ? 'unchanged (same SHA-256): left alone'
              : f.change === 'create'
                ? colors.warn('would be created')
                : colors.warn(
                    `would be replaced (SHA-256 ${f.current!.slice(0, 12)} → ${f.sha256.slice(0, 12)}), the old one kept as a backup`,
                  )
          }`,
        ),
      );
  else if (h.notCompared && h.status === 'ready') out.push(...field('files', colors.show(h.notCompared)));
  return out;
}

function connectionLines(c: TargetPlan, colors: Palette): string[] {
  const at = (e: { user: string; hostname: string; port: number }) =>
    colors.show(`${e.user}@${e.hostname}:${e.port}`);
  const out = field('address', at(c));
  const transport = transportText(c, colors);
  if (transport) out.push(...field('transport', transport));
  if (c.jump.length)
    out.push(...field('through', c.jump.map((j) => `${colors.show(j.label)} (${at(j)})`).join(', then ')));
  if (c.proxyCommand !== null) out.push(...field('proxy', `ProxyCommand ${colors.show(c.proxyCommand)}`));
  const auth: string[] = [];
  const a = c.auth;
  if (a.agent !== null)
    auth.push(
      `ssh-agent ${colors.show(a.agent)}${a.identitiesOnly ? ' (only the keys below: IdentitiesOnly)' : ''}`,
    );
  for (const k of a.keys) auth.push(`${colors.show(k.label)}: ${k.type} ${k.fingerprint}`);
  for (const k of a.skipped)
    auth.push(colors.dim(`skipped ${colors.show(k.label)}: ${colors.show(k.reason)}`));
  if (a.password) auth.push('a password');
  if (a.error !== null) auth.push(colors.fail(colors.show(a.error)));
  if (auth.length === 0) auth.push(colors.warn('nothing to offer (no agent, no key file, no password)'));
  out.push(...field('auth', auth.join('\n')));
  for (const j of c.jump)
    out.push(...field('jump key', `${colors.show(j.label)}: ${keyText(j.hostKey, colors)}`));
  out.push(...field('host key', keyText(c.hostKey, colors)));
  return out;
}

/**
 * The transport, when it is not the default ssh2: the system ssh (which reads ssh_config itself),
 * and what chose it: the option, or what the host's ssh_config asks that ssh2 cannot do (each with
 * its keyword, value, file and line); ssh2 forced by the option on such a host is a warning.
 */
function transportText(c: TargetPlan, colors: Palette): string | undefined {
  const why = c.transportReason;
  const needs = (why?.needs ?? []).map(
    (n) =>
      `  ${colors.show(n.feature)}: ${n.keyword} ${colors.show(n.value)} (${colors.show(n.file)}${n.line === null ? '' : `:${n.line}`})`,
  );
  if (c.transport === 'openssh') {
    const head = "openssh: the system ssh, which reads ssh_config itself (what follows is fleetsh's reading)";
    if (why?.by !== 'ssh-config') return head;
    return [head, 'chosen for what its ssh_config asks and ssh2 cannot do:', ...needs].join('\n');
  }
  if (why?.by === 'option' && needs.length)
    return [
      colors.warn('ssh2 (the transport option), though its ssh_config asks what ssh2 cannot do:'),
      ...needs,
    ].join('\n');
  return undefined;
}

/** A host key as the dry run found it, and what a run would do with it. */
function keyText(k: HostKeyPlan, colors: Palette): string {
  const key = k.key ? `${k.key.type} ${k.key.fingerprint}` : '';
  const at = k.entry ? `${colors.show(k.entry.file)}:${k.entry.line}` : '';
  const then = {
    connect: '',
    record: `; a run would record it (hostKeyPolicy 'accept-new')`,
    refuse: `; a run would refuse it (hostKeyPolicy '${k.policy}')`,
    unverified: `; a run would connect without verifying it (hostKeyPolicy '${k.policy}')`,
  }[k.verdict ?? 'connect'];
  switch (k.status) {
    case 'known':
      return `${colors.ok('known')} (${at}): ${key}`;
    case 'unknown':
      return `${colors.warn('unknown')}: ${key}, not in known_hosts as ${colors.show(k.name)}${then}`;
    case 'changed':
      return `${colors.fail('CHANGED')}: ${key} is not the ${k.entry!.type} key recorded at ${at}${then}`;
    case 'revoked':
      return `${colors.fail('REVOKED')}: ${key} is marked @revoked at ${at}${then}`;
    case 'unreachable':
      return `${colors.fail('not seen')}: unreachable${k.kind ? ` (${k.kind})` : ''}`;
    case 'not-checked':
      return `${colors.warn('not checked')}: ${colors.show(k.reason ?? '')}`;
  }
}

/** A labelled field; later lines of a value line up under its first. */
function field(label: string, value: string): string[] {
  const lines = value.split('\n');
  return lines.map((l, i) => (i === 0 ? `  ${label.padEnd(PAD)}${l}` : `  ${' '.repeat(PAD)}${l}`));
}

function contactLine(plan: PlanData, colors: Palette): string {
  const c = plan.contacted;
  const parts = [
    c.keyExchange && `key exchange only, no login: ${colors.show(c.keyExchange)}`,
    c.login && `logged in to reach the hosts behind them (jump hosts): ${colors.show(c.login)}`,
    c.checksum && `logged in to read checksums (sha256sum, read-only): ${colors.show(c.checksum)}`,
  ].filter(Boolean);
  return `contacted: ${parts.length ? parts.join('; ') : 'no host'}`;
}

/** `5 hosts: 2 ready, 1 host key refused, 1 unreachable, 1 not checked in 1.2 s; nothing was run`. */
function summary(plan: PlanData, colors: Palette): string {
  const c = plan.counts;
  const parts = [colors.ok(`${c.ready} ready`)];
  if (c['host-key']) parts.push(colors.fail(`${c['host-key']} host key refused`));
  if (c.unreachable) parts.push(colors.fail(`${c.unreachable} unreachable`));
  if (c['not-checked']) parts.push(colors.warn(`${c['not-checked']} not checked`));
  const ran = plan.changes ? 'nothing was run but the checksums' : 'nothing was run';
  return `${c.total} host${c.total === 1 ? '' : 's'}: ${parts.join(', ')} in ${formatMs(plan.wallMs)}; ${ran}`;
}
