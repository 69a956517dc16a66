// A dry run of one SSH target: everything a connection would use (user, address, port, jump
// chain, ProxyCommand, the agent and key files in the order they would be offered) and what the
// server's host key is against known_hosts, learned without logging in. Each host of the chain is
// dialled and hung up on after the key exchange (SshPool#probeHostKey); a jump host the next hop is
// reached through is logged in to, as a run would, and only when a run would accept its key without
// recording it. Nothing is recorded in known_hosts and no ProxyCommand is started.
import { FleetshError } from '../process/errors.js';
import { loadIdentities } from './identity.js';
import { checkHostKey, keyTypeOfBlob, sshFingerprint, type HostKeyCheck } from './known-hosts.js';
import type { SshPool } from './pool.js';
import { transportChoice } from './transport.js';
import type { AuthPlan, HostKeyPlan, HostKeyVerdict, ResolvedTarget, TargetPlan } from './types.js';

export async function inspectTarget(
  target: ResolvedTarget,
  pool: SshPool,
  signal?: AbortSignal,
): Promise<TargetPlan> {
  const chain = [...target.jump, target];
  const keys: HostKeyPlan[] = [];
  const contacted: TargetPlan['contacted'] = [];
  // Set once a hop cannot be gone through: the hosts after it are not checked, for this reason.
  let blocked: string | undefined;
  // A run over the system ssh honours what ssh2 does not: a dry run of one warns about nothing.
  const viaSsh2 = transportChoice(target).transport === 'ssh2';
  for (const [i, hop] of chain.entries()) {
    if (blocked !== undefined) {
      keys.push(unseen(hop, 'not-checked', null, blocked));
      continue;
    }
    if (i === 0 && hop.proxyCommand !== undefined) {
      keys.push(
        unseen(hop, 'not-checked', null, 'reached through a ProxyCommand, which a dry run does not start'),
      );
      blocked = `${hop.label} is reached through a ProxyCommand, which a dry run does not start`;
      continue;
    }
    // Probing hop i goes through hop i-1's connection, which logs in.
    if (i > 0) contacted[i - 1]!.how = 'login';
    contacted.push({ host: hop.label, how: 'key-exchange' });
    let blob: Buffer;
    try {
      blob = await pool.probeHostKey(hop, signal, { warn: viaSsh2 });
    } catch (e) {
      const kind = e instanceof FleetshError ? e.kind : 'protocol';
      keys.push(unseen(hop, 'unreachable', kind, e instanceof Error ? e.message : String(e)));
      blocked = `jump host ${hop.label} cannot be reached`;
      continue;
    }
    const check = await checkHostKey({
      files: hop.knownHostsFiles,
      names: hop.knownHostsName,
      keyBlob: blob,
    });
    const plan = opensshVouches(hop, check) ?? seen(hop, blob, check);
    keys.push(plan);
    if (plan.verdict === 'record')
      blocked = `a run would first record the key of jump host ${hop.label} (hostKeyPolicy 'accept-new'); a dry run records nothing, so it does not go through it`;
    else if (plan.verdict === 'refuse') blocked = `a run would refuse the key of jump host ${hop.label}`;
  }
  const choice = transportChoice(target);
  return {
    transport: choice.transport,
    transportReason: { by: choice.by, needs: choice.needs },
    label: target.label,
    user: target.user,
    hostname: target.hostname,
    port: target.port,
    jump: target.jump.map((j, i) => ({ ...endpoint(j), hostKey: keys[i]! })),
    proxyCommand: target.jump.length === 0 ? (target.proxyCommand ?? null) : null,
    auth: await authPlan(target),
    hostKey: keys[keys.length - 1]!,
    configFiles: target.configFiles,
    knownHostsFiles: target.knownHostsFiles,
    contacted,
  };
}

/**
 * A key known_hosts does not hold, for a host the OpenSSH transport reaches because something else
 * vouches for its key (an @cert-authority line, a KnownHostsCommand): ssh checks that at login,
 * which a dry run does not do, so the key is not judged here.
 */
function opensshVouches(t: ResolvedTarget, check: HostKeyCheck): HostKeyPlan | undefined {
  if (check.status !== 'unknown' || transportChoice(t).transport !== 'openssh') return undefined;
  const by = t.opensshNeeds.find((n) => n.keyword === '@cert-authority' || n.keyword === 'KnownHostsCommand');
  if (!by) return undefined;
  const where = by.line === null ? by.file : `${by.file}:${by.line}`;
  const vouch =
    by.keyword === '@cert-authority'
      ? `known_hosts trusts a certificate authority for it (${where})`
      : `its keys come from KnownHostsCommand ${by.value} (${where})`;
  return unseen(t, 'not-checked', null, `${vouch}: ssh checks its key at login, which a dry run does not do`);
}

function endpoint(t: ResolvedTarget) {
  return { label: t.label, user: t.user, hostname: t.hostname, port: t.port };
}

/** What a run would do with a key known_hosts says this about (verifyHostKey's decisions, without acting). */
function verdictOf(check: HostKeyCheck, t: ResolvedTarget): HostKeyVerdict {
  const policy = t.hostKeyPolicy;
  if (check.status === 'match') return 'connect';
  if (policy === 'off') return 'unverified';
  if (check.status !== 'unknown' || policy === 'strict') return 'refuse';
  // accept-new with no user known_hosts file to write to connects without recording.
  return t.userKnownHostsFiles.length > 0 ? 'record' : 'unverified';
}

function seen(t: ResolvedTarget, blob: Buffer, check: HostKeyCheck): HostKeyPlan {
  const status = check.status === 'match' ? 'known' : check.status;
  const entry =
    check.status === 'match' || check.status === 'revoked'
      ? { file: check.file, line: check.line, type: keyTypeOfBlob(blob) ?? 'unknown' }
      : check.status === 'changed'
        ? { file: check.file, line: check.line, type: check.knownType }
        : null;
  return {
    status,
    verdict: verdictOf(check, t),
    policy: t.hostKeyPolicy,
    name: t.knownHostsName,
    key: { type: keyTypeOfBlob(blob) ?? 'unknown', fingerprint: sshFingerprint(blob) },
    entry,
    kind: null,
    reason: null,
  };
}

function unseen(
  t: ResolvedTarget,
  status: 'unreachable' | 'not-checked',
  kind: string | null,
  reason: string,
): HostKeyPlan {
  return {
    status,
    verdict: null,
    policy: t.hostKeyPolicy,
    name: t.knownHostsName,
    key: null,
    entry: null,
    kind,
    reason,
  };
}

/** The agent, then the key files that load, in order; the ones left out and why. No secret is kept. */
async function authPlan(t: ResolvedTarget): Promise<AuthPlan> {
  const plan: AuthPlan = {
    agent: t.agent ?? null,
    identitiesOnly: t.identitiesOnly,
    keys: [],
    skipped: [],
    password: t.password !== undefined,
    error: null,
  };
  try {
    const ids = await loadIdentities(t);
    plan.keys = ids.keys.map((k) => ({ label: k.label, type: k.type, fingerprint: k.fingerprint }));
    plan.skipped = ids.skipped.map((s) => ({ label: s.label, reason: s.reason }));
  } catch (e) {
    plan.error = e instanceof Error ? e.message : String(e);
  }
  return plan;
}
