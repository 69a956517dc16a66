// A dynamic inventory over real sshd, through the library and the CLI: an Ansible-style inventory
// script (test/inventory/fixtures/ansible-inventory.mjs) prints groups, children and hostvars with
// ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file and
// ansible_ssh_common_args='-J bastion'; `$.fleet('@cloud', { inventory })` and
// `fleetsh run -i FILE -w @cloud` reach the same hosts with those settings and get the same results,
// running the script once each. And a failing script is exit 64 with its stderr, a hanging one dies
// with fleetsh on Ctrl-C.
//
// The ssh_config here gives only the client key, known_hosts and a user ("nobody") and port (1)
// that do not work: the hosts have no names sshd or ssh_config know, so a host answers only if the
// script's address, port and user were applied. sshd's ExposeAuthInfo tells each command which key
// authenticated it.
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { $, loadInventory, type FleetReport } from '../../src/index.js';
import { keygen } from '../harness/sshd.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch, waitFor } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const FIXTURE = fileURLToPath(new URL('../inventory/fixtures/ansible-inventory.mjs', import.meta.url));

describe('a dynamic inventory through the library and the CLI, over real sshd', { skip }, () => {
  let tf: TestFleet;
  const tmp = scratch();
  let home: string;
  let dir: string;
  let file: string;
  let pub: { client: string; web: string };
  let env: Record<string, string | undefined>;
  // Who answered, with which vars (Ansible's own stay out), authenticated by which key.
  const COMMAND =
    'echo "$(whoami) ${tier:-} ${region:-} ${env:-} ${ansible_python_interpreter:-none}"; cut -d" " -f2,3 "$SSH_USER_AUTH"';
  const invocations = () => readFileSync(join(dir, 'invocations.log'), 'utf8').split('\n').filter(Boolean);

  before(async () => {
    ensureBuilt();
    // The db group logs in as another user, and sshd reads authorized keys as that user: they live
    // in a folder it can read. The web group's key is authorized beside the client key.
    const keys = join(tmp.dir, 'keys');
    await mkdir(keys, { mode: 0o755 });
    await chmod(tmp.dir, 0o711);
    const authorized = join(keys, 'authorized_keys');
    tf = await startFleet({
      healthy: 5,
      faults: ['password'],
      extraSshdConfig: `ExposeAuthInfo yes\nAuthorizedKeysFile ${authorized}`,
    });
    dir = join(tmp.dir, 'inventory');
    await mkdir(join(dir, 'keys'), { recursive: true });
    const webKey = join(dir, 'keys', 'web_ed25519');
    const webPub = await keygen(webKey, 'fleetsh-test-web');
    const clientPub = (await readFile(`${tf.clientKeyPath}.pub`, 'utf8')).trim();
    await writeFile(authorized, `${clientPub}\n${webPub}\n`, { mode: 0o644 });
    const blob = (line: string) => line.split(' ').slice(0, 2).join(' ');
    pub = { client: blob(clientPub), web: blob(webPub) };

    home = join(tmp.dir, 'home');
    await mkdir(join(home, '.ssh'), { recursive: true });
    await writeFile(
      join(home, '.ssh', 'config'),
      [
        'Host *',
        '  User nobody',
        '  Port 1',
        `  IdentityFile ${tf.clientKeyPath}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${tf.knownHostsPath}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '',
      ].join('\n'),
    );
    // $.ssh reads ~/.ssh/config as OpenSSH does: this process and the CLI both read this one.
    process.env.HOME = home;
    delete process.env.SSH_AUTH_SOCK;
    env = { HOME: home, SSH_AUTH_SOCK: undefined, FLEETSH_STATE_FILE: tmp.stateFile };

    // The script and what it reads, in the inventory's folder; key paths relative to it.
    await copyFile(FIXTURE, join(dir, 'inventory.mjs'));
    await chmod(join(dir, 'inventory.mjs'), 0o755);
    const [h1, h2, h3, h4, h5] = tf.healthy.map((h) => ({ address: h.address, port: h.port }));
    await writeFile(
      join(dir, 'cluster.json'),
      JSON.stringify({
        user: tf.user,
        dbUser: tf.password!.user,
        webKey: 'keys/web_ed25519',
        bastion: `${tf.user}@${h1!.address}:${h1!.port}`,
        nodes: [
          { name: 'web-1', ...h1, role: 'web', region: 'eu' },
          { name: 'web-2', ...h2, role: 'web', region: 'us' },
          { name: 'db-1', ...h3, role: 'db', region: 'eu' },
          { name: 'db-2', ...h4, role: 'db', region: 'eu', user: tf.user },
          { name: 'behind-1', ...h5, role: 'behind', region: 'eu' },
        ],
      }),
    );
    file = join(dir, 'fleetsh.yml');
    await writeFile(file, 'groups:\n  cloud:\n    command: ./inventory.mjs\n    commandTimeout: 20s\n');
  });
  after(async () => {
    await $.close();
    await tf?.stop();
    tmp.cleanup();
  });

  const outcome = (report: ReturnType<FleetReport<unknown>['toJSON']>) =>
    report.hosts.map((h) => ({
      host: h.host,
      status: h.status,
      exitCode: h.exitCode,
      stdout: h.stdout,
      error: h.error,
    }));

  test("the script's addresses, ports, users, keys and jump host: the library and the CLI agree", async () => {
    const inventory = await loadInventory(file);
    assert.deepEqual(invocations(), ['--list']);
    const before = $.ssh.pool.stats().handshakes;
    const report = await $.fleet('@cloud', { inventory }).run`${COMMAND}`;
    // behind-1 through web-1's address: one handshake more than hosts.
    assert.equal($.ssh.pool.stats().handshakes - before, 6);
    const lines = (user: string, vars: string, key: string) => `${user} ${vars} test none\n${key}\n`;
    const password = tf.password!.user;
    assert.deepEqual(
      report.hosts.map((h) => [h.host, h.status, h.stdout || h.error]),
      [
        ['web-1', 'ok', lines(tf.user, 'web eu', pub.web)],
        ['web-2', 'ok', lines(tf.user, 'web us', pub.web)],
        ['db-1', 'ok', lines(password, 'db eu', pub.client)],
        ['db-2', 'ok', lines(tf.user, 'db eu', pub.client)],
        ['behind-1', 'ok', lines(tf.user, 'behind eu', pub.client)],
      ],
    );

    const cli = await fleetsh(['run', '-i', file, '-w', '@cloud', '--json', '--', COMMAND], { env });
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(outcome(JSON.parse(cli.stdout)), outcome(report.toJSON()));
    assert.deepEqual(invocations(), ['--list', '--list'], 'the CLI ran the script once');
    // What was left out is said once, on stderr, where the command is written.
    assert.equal(
      cli.stderr,
      `fleetsh: warning: ${file}:3: groups.cloud.command: the command of @cloud (./inventory.mjs): ` +
        'variables whose names cannot be environment variable names were left out: ' +
        '"ec2_tag_aws:cloudformation:stack-name" (behind-1,db-[1-2],web-[1-2])\n',
    );
  });

  test('sub-groups in host sets, for run and for hosts; one run of the script per fleetsh', async () => {
    const start = invocations().length;
    const cli = await fleetsh(
      ['run', '-i', file, '-w', '@cloud.prod!@cloud.web', '-x', '@cloud.behind', '--', 'hostname'],
      {
        env,
      },
    );
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^db-1: /m);
    assert.match(cli.stdout, /^db-2: /m);
    assert.doesNotMatch(cli.stdout, /web-|behind-/);
    const hosts = await fleetsh(['hosts', '-i', file, '-w', '@cloud.web,@cloud.db'], { env });
    assert.equal(hosts.stdout, 'web-1\nweb-2\ndb-1\ndb-2\n');
    const groups = await fleetsh(['hosts', '-i', file, '--groups'], { env });
    assert.equal(
      groups.stdout,
      [
        '@cloud         behind-1,db-[1-2],web-[1-2] (5)',
        '@cloud.behind  behind-1 (1)',
        '@cloud.db      db-[1-2] (2)',
        '@cloud.prod    behind-1,db-[1-2],web-[1-2] (5)',
        '@cloud.web     web-[1-2] (2)',
        '',
      ].join('\n'),
    );
    assert.equal(invocations().length - start, 3);
  });

  test('a failing script: exit 64, the group, the command and the end of its stderr; nothing ran', async () => {
    const bad = join(dir, 'failing.yml');
    await writeFile(
      join(dir, 'failing.sh'),
      '#!/bin/sh\necho "consul: 403 (ACL token lacks node:read)" >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    await writeFile(bad, 'groups:\n  consul: { command: ./failing.sh }\n');
    const cli = await fleetsh(['run', '-i', bad, '-w', '@consul', '--', 'touch', join(tmp.dir, 'ran')], {
      env,
    });
    assert.equal(cli.code, 64);
    assert.equal(cli.stdout, '');
    assert.equal(
      cli.stderr,
      `fleetsh: ${bad}:2: groups.consul.command: the command of @consul, ./failing.sh --list, exited with code 1; ` +
        'its stderr ends with:\n    consul: 403 (ACL token lacks node:read)\n',
    );
    assert.equal(existsSync(join(tmp.dir, 'ran')), false);
  });

  test('Ctrl-C while the script hangs ends fleetsh and the script with what it started', async () => {
    const hang = join(dir, 'hang.yml');
    await writeFile(
      join(dir, 'hang.sh'),
      '#!/bin/sh\necho $$ > hang.pid\nsleep 60 &\necho $! > hang-child.pid\nwait\n',
      { mode: 0o755 },
    );
    await writeFile(hang, 'groups:\n  slow: { command: ./hang.sh, commandTimeout: 60s }\n');
    const pids = ['hang.pid', 'hang-child.pid'].map((f) => join(dir, f));
    const started = Date.now();
    const cli = await fleetsh(['hosts', '-i', hang, '-w', '@slow'], {
      env,
      onSpawn: (child) => {
        void waitFor(
          () => pids.every((p) => existsSync(p) && readFileSync(p, 'utf8').trim() !== ''),
          20_000,
          'the script',
        ).then(() => child.kill('SIGINT'));
      },
    });
    // The script runs in its own process group, which a terminal's Ctrl-C does not reach: fleetsh
    // kills it, then ends by the signal as it would have without a command running.
    assert.equal(cli.signal, 'SIGINT', cli.stderr);
    assert.ok(Date.now() - started < 20_000);
    const alive = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
      } catch {
        return false;
      }
    };
    for (const p of pids) {
      const pid = Number(readFileSync(p, 'utf8'));
      await waitFor(() => !alive(pid), 5_000, `${p} (${pid}) to end`);
    }
  });
});
