// The README's library examples, as written there, against harness sshd hosts named like the
// README's (web1.prod ... and db1.prod), resolved through ~/.ssh/config as a user's would be.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { $, fold, HostSet, inventoryFromCommand, loadInventory } from '../src/index.js';
import { sshdAvailable, startFleet, type TestFleet } from './harness/fleet.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
let tf: TestFleet;
const names = [...Array.from({ length: 5 }, (_, i) => `web${i + 1}.prod`), 'db1.prod', 'api1.prod'];

before(async () => {
  if (skip) return;
  tf = await startFleet({ healthy: names.length, aliases: names });
  const home = join(tf.dir, 'home');
  await mkdir(join(home, '.ssh'), { recursive: true });
  await copyFile(tf.sshConfigPath, join(home, '.ssh', 'config'));
  process.env.HOME = home;
  // The deployment scripts of the README's rolling example.
  const bin = join(tf.dir, 'bin');
  await mkdir(bin);
  const script = async (name: string, body: string) => {
    await writeFile(join(bin, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(bin, name), 0o755);
  };
  await script('migrate.sh', 'echo "migrated to $1"');
  await script('deploy-api.sh', 'echo "api $1"');
  await script('deploy-web.sh', 'echo "web $1"');
  await script(
    'health-check.sh',
    'case "$SSH_CONNECTION" in *"$BAD "*) echo unhealthy >&2; exit 1;; esac; echo healthy',
  );
  process.env.PATH_FOR_TEST = bin;
});
after(async () => {
  await $.close();
  await tf?.stop();
});

describe('README examples', { skip }, () => {
  test('one host, one command, and quoting', async () => {
    const r = await $`echo hello`;
    assert.equal(r.stdout, 'hello\n');
    const ssh = $.ssh({ host: 'web1.prod', username: tf.user });
    const up = await ssh`uptime`;
    assert.match(up.stdout, /load average/);
    assert.equal(up.exitCode, 0);
    const file = join(tf.dir, 'my file.conf');
    await ssh`echo x > ${file}`;
    await ssh`cp ${file} ${file}.backup`;
    assert.equal((await ssh`cat ${file + '.backup'}`).stdout, 'x\n');
    assert.equal((await ssh`printf '%s|' ${['a b', 'c']}`).stdout, 'a b|c|');
    assert.equal((await ssh`${'echo piped | tr a-z A-Z'}`).stdout, 'PIPED\n');
    assert.equal((await ssh`cd ${tf.dir} && ls ${$.raw('*.conf')}`).stdout, 'my file.conf\n');
  });

  test('a fleet over a host-set expression, with its report', async () => {
    const report = await $.fleet(['web[1-5].prod', 'db1.prod'], { concurrency: 32, retries: 3 })
      .run`echo nginx active`;
    assert.equal(report.counts.total, 6);
    assert.equal(report.counts.ok, 6);
    assert.equal(report.groups.length, 1);
    assert.equal(report.groups[0]!.hosts, 'db1.prod,web[1-5].prod');
    const text = report.toText();
    assert.match(text, /^db1\.prod,web\[1-5\]\.prod \(6\)\n-+\nnginx active$/m);
    assert.match(text, /^6 hosts: 6 ok in /m);
  });

  test('a dry run: each host as a run would meet it, with nothing run', async () => {
    const plan = await $.fleet('web[1-5].prod').plan();
    assert.equal(plan.hosts[0]!.connection?.hostname, tf.host('web1.prod').address);
    assert.equal(plan.hosts[0]!.connection?.hostKey.status, 'known');
    assert.equal(plan.sets['host-key'], '');
    assert.match(plan.toText(), /^5 hosts: 5 ready in .*; nothing was run$/m);
  });

  test('events, iteration, sets and budgets of a fleet run', async () => {
    const servers = names.slice(0, 5).map((host) => ({ host, username: tf.user }));
    const run = $.fleet(servers, {
      concurrency: 32,
      timeout: '2m',
      deadline: '15m',
      maxFailures: '10%',
      retries: { attempts: 3, on: 'unreachable' },
    })
      .run`case $(hostname -I 2>/dev/null; echo "$SSH_CONNECTION") in *'${tf.healthy[3]!.address} '*) exit 4;; esac; echo deployed`;
    const seen: string[] = [];
    run.on('server:success', ({ server, progress }) => seen.push(`ok ${server} ${progress > 0}`));
    run.on('server:error', ({ server, error }) => seen.push(`error ${server} ${typeof error}`));
    const finished: string[] = [];
    for await (const host of run) finished.push(host.host);
    const report = await run;
    assert.equal(finished.length, 5);
    assert.equal(seen.length, 5);
    assert.ok(seen.includes('error web4.prod string'));
    assert.deepEqual(report.counts, { total: 5, ok: 4, failed: 1, timeout: 0, unreachable: 0, skipped: 0 });
    assert.equal(report.sets.failed, 'web4.prod');
    assert.equal(report.groups[0]!.hosts, 'web[1-3,5].prod');
  });

  test('a rolling deployment stops at its budget and says why', async () => {
    const bin = process.env.PATH_FOR_TEST!;
    const version = '2.4.0';
    const envs = { production: { database: ['db1.prod'], api: ['api1.prod'], web: names.slice(0, 5) } };
    const deployment = await $.rolling({
      phases: [
        {
          name: 'database',
          targets: envs.production.database,
          command: `${bin}/migrate.sh --version=${version}`,
        },
        { name: 'api', targets: envs.production.api, command: `${bin}/deploy-api.sh --version=${version}` },
        {
          name: 'web',
          targets: envs.production.web,
          command: `${bin}/deploy-web.sh --version=${version}`,
          batches: [1, '10%', '100%'],
        },
      ],
      healthCheck: `BAD=${tf.healthy[1]!.address} ${bin}/health-check.sh`, // web2 is unhealthy
      maxFailures: 0,
    });
    assert.equal(deployment.stopped !== null && deployment.stopped !== undefined, true);
    const text = deployment.toText();
    assert.match(text, /web2\.prod/);
    // Batches of the web phase: web1 (the canary), web2 (10 %, at least one host), then the rest.
    // db, api and web1 done; web2 failed its health check; the last batch never started.
    assert.deepEqual([...deployment.done].sort(), ['api1.prod', 'db1.prod', 'web1.prod']);
    assert.deepEqual([...deployment.failed], ['web2.prod']);
    assert.deepEqual([...deployment.notDone].sort(), ['web3.prod', 'web4.prod', 'web5.prod']);
  });

  test('an inventory given to a fleet: its groups, settings and vars', async () => {
    // The README's fleetsh.yml, as written there.
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n(# fleetsh\.yml\n[^`]*)```/.exec(readme)![1]!;
    await writeFile(join(tf.dir, 'fleetsh.yml'), yaml);
    const inventory = await loadInventory(join(tf.dir, 'fleetsh.yml'));
    const report = await $.fleet('@web,db1.prod', { inventory }).run`echo "$tier in $region"`;
    assert.deepEqual(
      report.hosts.map((h) => `${h.host}: ${h.stdout}`),
      [...names.slice(0, 5).map((h) => `${h}: web in eu\n`), 'db1.prod: db in eu\n'],
    );
    assert.equal(inventory.targetFor('db1.prod').jump, 'web1.prod');
  });

  test("a group from a command: an Ansible inventory script's groups, through a file and without", async () => {
    // The README's yaml, as written there, beside an ec2.py that prints what Ansible's would.
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n(groups:\n {2}aws: \{ command: [^`]*)```/.exec(readme)![1]!;
    const dir = join(tf.dir, 'dynamic');
    await mkdir(dir);
    await writeFile(join(dir, 'fleetsh.yml'), yaml);
    const listing = {
      tag_role_web: { hosts: names.slice(0, 5), vars: { tier: 'web' } },
      _meta: { hostvars: { 'web1.prod': { ansible_user: tf.user } } },
    };
    await writeFile(
      join(dir, 'ec2.py'),
      `#!/bin/sh\necho "$*" >> calls.log\necho '${JSON.stringify(listing)}'\n`,
    );
    await chmod(join(dir, 'ec2.py'), 0o755);
    const cwd = process.cwd();
    process.chdir(dir); // inventoryFromCommand('./ec2.py') starts at the current folder
    try {
      const inventory = await loadInventory(join(dir, 'fleetsh.yml'));
      const report = await $.fleet('@aws.tag_role_web', { inventory }).run`uptime`;
      assert.equal(report.ok, true, report.toText());
      assert.deepEqual(
        report.hosts.map((h) => h.host),
        names.slice(0, 5),
      );
      const direct = await inventoryFromCommand('./ec2.py', { group: 'aws' });
      assert.deepEqual(direct.groups(), ['aws', 'aws.tag_role_web']);
      assert.equal(direct.targetFor('web1.prod').username, tf.user);
      assert.equal(await readFile(join(dir, 'calls.log'), 'utf8'), '--list\n--list\n');
    } finally {
      process.chdir(cwd);
    }
  });

  test('the same input to every host, and a local script run everywhere', async () => {
    const release = join(tf.dir, 'release.tar.gz');
    await writeFile(release, Buffer.alloc(300_000, 7));
    const web = $.fleet('web[1-5].prod');
    const sums = await web.with({ stdin: { file: release } }).run`sha256sum`;
    assert.equal(sums.counts.ok, 5);
    assert.equal(sums.groups.length, 1);
    const check = join(tf.dir, 'check.sh');
    await writeFile(check, '#!/bin/sh\necho "checked $FLEETSH_HOST $1"\n');
    const checks = await web.script(check, ['--verbose']);
    assert.deepEqual(
      checks.hosts.map((h) => h.stdout),
      names.slice(0, 5).map((h) => `checked ${h} --verbose\n`),
    );
  });

  test('host sets expand and fold', () => {
    assert.deepEqual(HostSet.parse('web[1-3],web7').hosts, ['web1', 'web2', 'web3', 'web7']);
    assert.equal(fold(['web1', 'web2', 'web3', 'web7']), 'web[1-3,7]');
    assert.deepEqual(HostSet.parse('deploy@web[1-3]:2222!web2').hosts, [
      'deploy@web1:2222',
      'deploy@web3:2222',
    ]);
    assert.deepEqual(HostSet.parseList('# pasted\nweb1\n\n[2001:db8::1]:22\n').hosts, [
      'web1',
      '[2001:db8::1]:22',
    ]);
  });
});
