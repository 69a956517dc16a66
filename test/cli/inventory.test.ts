// The inventory over real sshd, through the library and through the CLI: per-group users, ports,
// identities and jump hosts, per-group and per-host vars as environment variables. A script's
// `$.fleet('@web,...', { inventory })` and `fleetsh run -i FILE -w '@web,...' --json` reach the same
// hosts with the same settings and get the same results.
//
// The ssh_config here gives addresses, the client key and known_hosts, with a user ("nobody") and,
// for the db hosts, a port (1) that do not work: a host answers as expected only if the inventory's
// settings were applied. sshd's ExposeAuthInfo tells each command which key authenticated it.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $, loadInventory, type FleetReport } from '../../src/index.js';
import { keygen } from '../harness/sshd.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('the inventory through the library and the CLI, over real sshd', { skip }, () => {
  let tf: TestFleet;
  const tmp = scratch();
  let home: string;
  let webKey: string;
  let pub: { client: string; web: string };
  let env: Record<string, string | undefined>;
  // Who answered, with which vars, authenticated by which key (the key's type and base64).
  const COMMAND = 'echo "$(whoami) $region ${tier:-} ${role:-}"; cut -d" " -f2,3 "$SSH_USER_AUTH"';

  before(async () => {
    ensureBuilt();
    // The db group logs in as another user, and sshd reads authorized keys as that user: they live
    // in a folder it can read. The web group's key is authorized beside the client key.
    const keys = join(tmp.dir, 'keys');
    await mkdir(keys, { mode: 0o755 });
    await chmod(tmp.dir, 0o711);
    const authorized = join(keys, 'authorized_keys');
    tf = await startFleet({
      healthy: 6,
      faults: ['password', 'dead-port'],
      extraSshdConfig: `ExposeAuthInfo yes\nAuthorizedKeysFile ${authorized}`,
    });
    webKey = join(tf.dir, 'web_ed25519');
    const webPub = await keygen(webKey, 'fleetsh-test-web');
    const clientPub = (await readFile(`${tf.clientKeyPath}.pub`, 'utf8')).trim();
    await writeFile(authorized, `${clientPub}\n${webPub}\n`, { mode: 0o644 });
    const blob = (line: string) => line.split(' ').slice(0, 2).join(' ');
    pub = { client: blob(clientPub), web: blob(webPub) };

    home = join(tmp.dir, 'home');
    await mkdir(join(home, '.ssh'), { recursive: true });
    const block = (h: TestFleet['hosts'][number]) =>
      [
        `Host ${h.name}`,
        `  HostName ${h.address}`,
        `  Port ${h.name === 'h04' || h.name === 'h05' ? 1 : h.port}`,
        '  User nobody',
        `  IdentityFile ${tf.clientKeyPath}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${tf.knownHostsPath}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '',
      ].join('\n');
    await writeFile(join(home, '.ssh', 'config'), tf.hosts.map(block).join('\n'));
    // $.ssh reads ~/.ssh/config as OpenSSH does: this process and the CLI both read this one.
    process.env.HOME = home;
    delete process.env.SSH_AUTH_SOCK;
    env = { HOME: home, SSH_AUTH_SOCK: undefined, FLEETSH_STATE_FILE: tmp.stateFile };
  });
  after(async () => {
    await $.close();
    await tf?.stop();
    tmp.cleanup();
  });

  /** An inventory file: the web group with its own key, db with its own user and port, h06 behind h01. */
  async function inventoryFile(name: string, behindJump: string): Promise<string> {
    const path = join(tmp.dir, name);
    const port = tf.healthy[0]!.port;
    await writeFile(
      path,
      [
        `defaults: { user: ${tf.user}, vars: { region: eu, replicas: 3 } }`,
        'hosts:',
        '  h02: { vars: { region: us } }',
        `  h05: { port: ${port}, vars: { role: primary } }`,
        'groups:',
        `  web: { hosts: 'h[01-03]', identity: ${webKey}, vars: { tier: web } }`,
        `  db: { hosts: 'h[04-05]', user: ${tf.password!.user}, port: ${port}, vars: { tier: db } }`,
        `  behind: { hosts: h06, jump: '${behindJump}', vars: { tier: behind } }`,
        '',
      ].join('\n'),
    );
    return path;
  }

  /** What both paths must agree on, host by host. */
  const outcome = (report: ReturnType<FleetReport<unknown>['toJSON']>) =>
    report.hosts.map((h) => ({
      host: h.host,
      status: h.status,
      exitCode: h.exitCode,
      stdout: h.stdout,
      error: h.error,
    }));

  test('groups, per-group users, ports, keys and jump hosts, and vars: the library and the CLI agree', async () => {
    const file = await inventoryFile('fleetsh.yml', `${tf.user}@h01`);
    const inventory = await loadInventory(file);
    const before = $.ssh.pool.stats().handshakes;
    const report = await $.fleet('@web,@db,h06', { inventory }).run`${COMMAND}`;
    // h06 through h01: one handshake more than hosts (h01 is both a host and the bastion, one connection each).
    assert.equal($.ssh.pool.stats().handshakes - before, 7);
    const lines = (user: string, vars: string, key: string) => `${user} ${vars}\n${key}\n`;
    const password = tf.password!.user;
    assert.deepEqual(
      report.hosts.map((h) => [h.host, h.status, h.stdout]),
      [
        ['h01', 'ok', lines(tf.user, 'eu web ', pub.web)],
        ['h02', 'ok', lines(tf.user, 'us web ', pub.web)],
        ['h03', 'ok', lines(tf.user, 'eu web ', pub.web)],
        ['h04', 'ok', lines(password, 'eu db ', pub.client)],
        ['h05', 'ok', lines(password, 'eu db primary', pub.client)],
        ['h06', 'ok', lines(tf.user, 'eu behind ', pub.client)],
      ],
    );

    const cli = await fleetsh(['run', '-i', file, '-w', '@web,@db,h06', '--json', '--', COMMAND], { env });
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(outcome(JSON.parse(cli.stdout)), outcome(report.toJSON()));
  });

  test('a jump host that cannot be reached: both say so for the host behind it', async () => {
    const file = await inventoryFile('dead-jump.yml', 'h-dead-port');
    const report = await $.fleet('@behind,h01', { inventory: await loadInventory(file) }).run`${COMMAND}`;
    const h06 = report.hosts.find((h) => h.host === 'h06')!;
    assert.equal(h06.status, 'unreachable');
    assert.match(h06.error!, /^h06: connection refused: through jump host h-dead-port/);
    assert.equal(report.hosts.find((h) => h.host === 'h01')!.status, 'ok');

    const cli = await fleetsh(['run', '-i', file, '-w', '@behind,h01', '--json', '--', COMMAND], { env });
    assert.equal(cli.code, 2, cli.stderr);
    assert.deepEqual(outcome(JSON.parse(cli.stdout)), outcome(report.toJSON()));
  });
});
