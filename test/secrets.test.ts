// Secrets stay secret, suite-wide: passwords, passphrases, sudo passwords and private key text never
// appear in an error (message, stack, JSON, util.inspect), a fleet event payload, a report (toText,
// JSON), a warning, a verbose log, the CLI's output in any mode or its stderr, or a process's argument
// list (any process on this machine, which plays the hosts too) or, for fleetsh's own children such
// as a ProxyCommand, their environment, while commands run. The failures are real, against sshd: a
// wrong password, a wrong passphrase on an encrypted key given as a path and as text, a refused key
// given inline, a wrong sudo password (the machine's real sudo, as a login user of
// test/harness/sudo-users.ts: root's sudo asks for none), and the right ones, so the scans see them
// at work.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { after, before, describe, test } from 'node:test';
import { sshConnect } from '../src/fleet/connect.js';
import { Fleet } from '../src/fleet/fleet.js';
import type { FleetShell } from '../src/fleet/target.js';
import type { SshFunction, SshShell } from '../src/ssh/shell.js';
import type { SshTargetOptions } from '../src/ssh/types.js';
import { ensureBuilt, fleetsh } from './cli/helpers.js';
import { startFleet, sshdAvailable, type TestFleet } from './harness/fleet.js';
import { fleetPids } from './harness/procs.js';
import { ensureSudoUsers, SUDO_USERS, sudoAvailable, sudoLogins, type SudoLogins } from './harness/sudo-users.js';
import { sshFor, targetOf } from './ssh/helpers.js';

const skip =
  (!sshdAvailable() && 'OpenSSH sshd not installed') ||
  (!sudoAvailable() && 'needs root, sudo (with visudo) and useradd');
const random = () => randomBytes(9).toString('base64url');
const WRONG_PASSWORD = `wrong-password-${random()}`;
const PASSPHRASE = `passphrase-${random()}`;
const WRONG_PASSPHRASE = `wrong-passphrase-${random()}`;
const WRONG_SUDO_PASSWORD = `wrong-sudo-${random()}`;
const FLEET_EVENTS = [
  'batch:start',
  'server:start',
  'server:success',
  'server:error',
  'server:skipped',
  'server:retry',
  'server:output',
  'batch:complete',
] as const;

/**
 * Distinctive slices of a private key file: 32 characters from each full base64 line past the first
 * three (which hold the format name, the cipher and the public key, found in .pub files too).
 */
function keySlices(text: string): string[] {
  const body = text.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  const slices = body
    .slice(3)
    .filter((l) => l.length >= 40)
    .map((l) => l.slice(8, 40));
  assert.ok(slices.length >= 2, 'a key has a private part to look for');
  return slices;
}

/** Everything fleetsh showed: [where, text]. */
type Seen = Array<[string, string]>;

function note(seen: Seen, where: string, value: unknown): void {
  if (typeof value === 'string') {
    seen.push([where, value]);
    return;
  }
  seen.push([where, util.inspect(value, { depth: 8 })]); // errors: message, stack, fields, cause
  try {
    seen.push([`${where} (JSON)`, JSON.stringify(value) ?? '']);
  } catch {
    // circular: inspect has it
  }
}

describe('secrets never leak', { skip }, () => {
  let fleet: TestFleet;
  let ssh: SshFunction;
  let work: string;
  let logins: SudoLogins;
  let sudoPassword: string;
  let proxyConfig: string;
  let encKey: string;
  let secrets: Record<string, string>;
  const seen: Seen = [];
  const warnings: string[] = [];

  before(async () => {
    ensureBuilt();
    sudoPassword = ensureSudoUsers().password;
    logins = sudoLogins();
    fleet = await startFleet({
      healthy: 2,
      faults: ['password', 'refuses-key'],
      extraSshdConfig: logins.sshdConfig,
    });
    logins.authorize(fleet);
    ssh = sshFor(fleet, { onWarning: (m) => warnings.push(m) });
    work = mkdtempSync(path.join(tmpdir(), 'fleetsh-secrets-'));
    encKey = path.join(work, 'encrypted_ed25519');
    copyFileSync(fleet.clientKeyPath, encKey);
    execFileSync('ssh-keygen', ['-q', '-p', '-f', encKey, '-P', '', '-N', PASSPHRASE]);
    const plainText = readFileSync(fleet.clientKeyPath, 'utf8');
    const encText = readFileSync(encKey, 'utf8');
    secrets = {
      password: fleet.password!.password,
      'wrong password': WRONG_PASSWORD,
      passphrase: PASSPHRASE,
      'wrong passphrase': WRONG_PASSPHRASE,
      'sudo password': sudoPassword,
      'wrong sudo password': WRONG_SUDO_PASSWORD,
      ...Object.fromEntries(keySlices(plainText).map((s, i) => [`key text (slice ${i})`, s])),
      ...Object.fromEntries(keySlices(encText).map((s, i) => [`encrypted key text (slice ${i})`, s])),
    };
    // The password host reached through a ProxyCommand of fleetsh's own: a relay with a marker.
    const relay = path.join(work, 'relay.cjs');
    writeFileSync(
      relay,
      "const s = require('net').connect(Number(process.argv[3]), process.argv[2]);\n" +
        "s.on('error', () => process.exit(1));\n" +
        'process.stdin.pipe(s).pipe(process.stdout);\n',
    );
    proxyConfig = path.join(work, 'ssh_config');
    writeFileSync(
      proxyConfig,
      `Include ${fleet.sshConfigPath}\nHost h-password\n  ProxyCommand ${process.execPath} ${relay} %h %p\n`,
    );
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    logins?.remove();
  });

  /** Fails naming where a secret showed and which one, with every secret masked in what it prints. */
  function assertClean(entries: Seen, what: string): void {
    assert.ok(entries.length > 0, `nothing was collected for ${what}`);
    const mask = (text: string) =>
      Object.entries(secrets).reduce((t, [name, secret]) => t.replaceAll(secret, `<${name}>`), text);
    for (const [where, text] of entries)
      for (const [name, secret] of Object.entries(secrets))
        assert.ok(!text.includes(secret), `the ${name} shows in ${what}: ${mask(where)}`);
  }

  async function failure(where: string, p: PromiseLike<unknown>, kind: string): Promise<void> {
    const e = await Promise.resolve(p).then(
      () => assert.fail(`${where}: expected a failure`),
      (err: unknown) => err,
    );
    assert.equal((e as { kind?: string }).kind, kind, `${where}: ${String(e)}`);
    note(seen, where, e);
  }

  const on = (name: string, extra: Partial<SshTargetOptions> = {}) =>
    targetOf(fleet, fleet.host(name), extra);
  /** A sudo user of the harness (a password rule), logged in with the fleet's key. */
  const sudoer = (name: string, sudo: string) =>
    on(name, { username: SUDO_USERS.password, sudoPassword: sudo });

  test('errors of real failures: wrong password, wrong passphrase (path and text), refused inline key, wrong sudo password', async () => {
    const keyText = readFileSync(fleet.clientKeyPath, 'utf8');
    const encText = readFileSync(encKey, 'utf8');
    const healthy = fleet.healthy[0]!.name;
    await failure('wrong password', ssh(on('h-password', { password: WRONG_PASSWORD }))`true`, 'auth');
    await failure(
      'wrong passphrase, key file',
      ssh(on(healthy, { privateKey: encKey, passphrase: WRONG_PASSPHRASE }))`true`,
      'auth',
    );
    await failure(
      'wrong passphrase, key text',
      ssh(on(healthy, { privateKey: encText, passphrase: WRONG_PASSPHRASE }))`true`,
      'auth',
    );
    await failure(
      'encrypted key text, no passphrase',
      ssh(on(healthy, { privateKey: encText }))`true`,
      'auth',
    );
    await failure(
      'refused key text',
      ssh(on('h-refuses-key', { privateKey: keyText, identitiesOnly: true }))`true`,
      'auth',
    );
    const wrongSudo = ssh(sudoer(healthy, WRONG_SUDO_PASSWORD));
    await failure('wrong sudo password', wrongSudo.sudo`true`, 'failed');
    // The same targets work with the right secrets: the failures above were about the secrets.
    const right = ssh(on('h-password', { password: fleet.password!.password }));
    assert.equal((await right`id -un`).stdout, `${fleet.password!.user}\n`);
    const unlocked = ssh(on(healthy, { privateKey: encText, passphrase: PASSPHRASE }));
    assert.equal((await unlocked`echo unlocked`).stdout, 'unlocked\n');
    const goodSudo = ssh(sudoer(healthy, sudoPassword));
    assert.equal((await goodSudo.sudo`echo root`).stdout, 'root\n');
    assertClean(seen, 'errors');
    note(seen, 'warnings', warnings.join('\n'));
    assertClean(seen, 'warnings');
  });

  test('a verbose log, and process arguments and environments while secrets are in use', async () => {
    const healthy = fleet.healthy[1]!.name;
    const marker = `secrets-scan-${process.pid}`;
    const cmdlines = new Set<string>();
    const environs = new Set<string>();
    const scan = () => {
      for (const name of readdirSync('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        try {
          cmdlines.add(readFileSync(`/proc/${name}/cmdline`, 'latin1'));
        } catch {
          // gone
        }
      }
      // fleetsh's own children (the ProxyCommand relay): their environment too.
      for (const pid of fleetPids([process.pid], `none-${process.pid}`)) {
        try {
          environs.add(readFileSync(`/proc/${pid}/environ`, 'latin1'));
        } catch {
          // gone
        }
      }
    };
    const sampler = setInterval(scan, 25);
    let log = '';
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => ((log += String(chunk)), true)) as typeof write;
    try {
      const proxied = ssh({
        ...on('h-password', { password: fleet.password!.password }),
        sshConfig: proxyConfig,
      });
      const sudo = ssh(sudoer(healthy, sudoPassword));
      const wrong = ssh(sudoer(healthy, WRONG_SUDO_PASSWORD));
      const [a, b, c] = await Promise.allSettled([
        proxied`echo proxied; sleep 1; : ${marker}`.verbose(),
        sudo.sudo`echo sudo; sleep 1; : ${marker}`.verbose(),
        wrong.sudo`echo never`.verbose(),
      ]);
      assert.equal(a.status === 'fulfilled' && a.value.stdout, 'proxied\n');
      assert.equal(b.status === 'fulfilled' && b.value.stdout, 'sudo\n');
      assert.equal(c.status, 'rejected');
    } finally {
      process.stderr.write = write;
      clearInterval(sampler);
    }
    scan();
    // The scans saw the commands, the proxy and the verbose lines: they can find what is there.
    const all = [...cmdlines];
    assert.ok(
      all.some((c) => c.includes(marker) && c.includes('sleep 1')),
      'the scan saw the remote commands',
    );
    assert.ok(
      all.some((c) => c.includes('relay.cjs')),
      'the scan saw the ProxyCommand',
    );
    assert.ok(environs.size > 0, 'the scan read the environment of fleetsh children');
    assert.match(log, /proxied/);
    assert.match(log, /Sorry, try again/); // what sudo said to the wrong password, passed on
    assertClean(
      all.map((c, i) => [`a command line (${i}): ${c.replaceAll('\0', ' ').slice(0, 200)}`, c]),
      'process arguments',
    );
    assertClean(
      [...environs].map((e, i) => [`an environment of a child of fleetsh (${i})`, e]),
      'process environments',
    );
    assertClean([['the verbose log', log]], 'the verbose log');
  });

  test('fleet events and reports (text and JSON) over the same failures, with retries', async () => {
    const healthy = fleet.healthy[0]!.name;
    const targets = [
      { ...on('h-password', { password: WRONG_PASSWORD }), name: 'wrong-password' },
      { ...on('h-password', { password: fleet.password!.password }), name: 'right-password' },
      { ...on(healthy, { privateKey: encKey, passphrase: WRONG_PASSPHRASE }), name: 'wrong-passphrase' },
      {
        ...on(healthy, { privateKey: readFileSync(encKey, 'utf8'), passphrase: WRONG_PASSPHRASE }),
        name: 'wrong-passphrase-text',
      },
      {
        ...on('h-refuses-key', {
          privateKey: readFileSync(fleet.clientKeyPath, 'utf8'),
          identitiesOnly: true,
        }),
        name: 'refused-key-text',
      },
      { ...sudoer(healthy, WRONG_SUDO_PASSWORD), name: 'wrong-sudo' },
      { ...sudoer(healthy, sudoPassword), name: 'right-sudo' },
      // A command that fails: retried (sudo's refusals are not), so retry events carry secrets too.
      { ...on(healthy), name: 'failing' },
    ];
    const events: Seen = [];
    const run = new Fleet(targets, {
      connect: sshConnect(ssh),
      retries: { attempts: 2, baseMs: 50, on: 'any' },
    }).each(async (shell: FleetShell, ctx) => {
      const sudo = (shell as SshShell).sudo;
      if (ctx.host === 'failing') return shell`exit 3`;
      return ctx.host.endsWith('sudo') ? sudo`echo as root` : shell`echo as user`;
    }, 'echo');
    for (const e of FLEET_EVENTS) run.on(e, (payload: unknown) => note(events, `event ${e}`, payload));
    const report = await run;
    assert.deepEqual(
      report.hosts.map((h) => [h.host, h.status]),
      [
        ['wrong-password', 'unreachable'],
        ['right-password', 'ok'],
        ['wrong-passphrase', 'unreachable'],
        ['wrong-passphrase-text', 'unreachable'],
        ['refused-key-text', 'unreachable'],
        ['wrong-sudo', 'failed'],
        ['right-sudo', 'ok'],
        ['failing', 'failed'],
      ],
      report.toText(),
    );
    assert.ok(
      events.some(([w]) => w === 'event server:retry'),
      'retries were made, and seen',
    );
    assertClean(events, 'fleet events');
    assertClean(
      [
        ['report.toText()', report.toText()],
        ['JSON.stringify(report)', JSON.stringify(report)],
        ['util.inspect(report)', util.inspect(report, { depth: 8 })],
      ],
      'the report',
    );
  });

  test('the CLI: an encrypted or refused key file, in every output mode and on stderr', async () => {
    const conn = ['-F', fleet.sshConfigPath];
    const outputs: Seen = [];
    const state = { FLEETSH_STATE_FILE: path.join(work, 'last-run.json') };
    for (const [name, hosts, identity] of [
      ['encrypted key', fleet.healthy[0]!.name, encKey],
      ['refused key', `h-refuses-key,${fleet.healthy[1]!.name}`, fleet.clientKeyPath],
    ] as const) {
      for (const mode of [[], ['--json'], ['--ndjson'], ['--gather']]) {
        const r = await fleetsh(
          ['run', ...conn, '-w', hosts, '--identity', identity, ...mode, '--', 'true'],
          {
            env: state,
          },
        );
        assert.equal(r.code, 2, `${name} ${mode}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout + r.stderr, /authentication failed/);
        outputs.push(
          [`run ${name} ${mode.join(' ')} stdout`, r.stdout],
          [`run ${name} ${mode} stderr`, r.stderr],
        );
      }
      const ping = await fleetsh(['ping', ...conn, '-w', hosts, '--identity', identity, '--json'], {
        env: state,
      });
      outputs.push([`ping ${name} stdout`, ping.stdout], [`ping ${name} stderr`, ping.stderr]);
    }
    assertClean(outputs, 'the CLI output');
  });
});
