// The `inventory` fleet option: host-set expressions among the targets expand through its groups,
// and each host runs with its inventory settings as SSH target options and its vars as environment
// variables, under what a target says itself. Local shells stand in for SSH (the harness tests in
// test/cli/inventory.test.ts do it over real sshd).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { $, UsageError, type Target } from '../../src/index.js';
import { sshConnect } from '../../src/fleet/connect.js';
import { parseInventory } from '../../src/inventory/index.js';
import { LocalExecutor } from '../../src/local/local-executor.js';
import { makeShell } from '../../src/command/shell.js';

const inventory = parseInventory(`
defaults: { vars: { region: eu, replicas: 3 } }
hosts:
  db1: { port: 2222, user: postgres, vars: { role: primary } }
  web2: { vars: { region: us } }
groups:
  web: { hosts: 'web[1-3]', user: www, identity: /keys/web, jump: bastion, vars: { tier: web } }
  db: { hosts: 'db[1-2]', connectTimeout: 2s }
`);

/** `$.fleet`'s own transport glue (sshConnect) over local shells, recording the options `$.ssh` would get. */
function recorder() {
  const seen = new Map<string, Record<string, unknown>>();
  const connect = sshConnect((options: Record<string, unknown>) => {
    seen.set(options.host as string, options);
    return makeShell(new LocalExecutor(), {});
  });
  return { connect, seen };
}

describe('the inventory fleet option', () => {
  test("'@web,db1' expands through the groups; each host gets its settings, and its vars as environment", async () => {
    const { connect, seen } = recorder();
    const report = await $.fleet('@web,db1', { inventory, connect })
      .run`echo "$region $replicas \${tier:-none} \${role:-none}"`;
    assert.deepEqual(
      report.hosts.map((h) => [h.host, h.stdout]),
      [
        ['web1', 'eu 3 web none\n'],
        ['web2', 'us 3 web none\n'],
        ['web3', 'eu 3 web none\n'],
        ['db1', 'eu 3 none primary\n'],
      ],
    );
    // What $.ssh is given: the inventory's target for the host, less its name and env (sshConnect's).
    for (const host of ['web1', 'web2', 'web3', 'db1']) {
      const { name: _name, env: _env, ...options } = inventory.targetFor(host);
      assert.deepEqual(seen.get(host), options, host);
    }
    assert.deepEqual(seen.get('web1'), {
      host: 'web1',
      username: 'www',
      privateKey: '/keys/web',
      jump: 'bastion',
    });
    assert.deepEqual(seen.get('db1'), {
      host: 'db1',
      username: 'postgres',
      port: 2222,
      connectTimeout: 2000,
    });
  });

  test('the names are the hosts as the inventory names them, a port or not', () => {
    const f = $.fleet(['@db', 'web1'], { inventory, connect: recorder().connect });
    assert.deepEqual(f.names, ['db1', 'db2', 'web1']);
    assert.deepEqual(
      f.hosts.map((h) => h.target),
      ['db1', 'db2', 'web1'].map((h) => inventory.targetFor(h)),
    );
  });

  test('what a target says itself wins over the inventory', () => {
    const targets: Target[] = [
      'root@web1:2200',
      { host: 'web2', user: 'me', env: { tier: 'mine', extra: 'x' } },
      { host: 'db1', port: 22, via: 'other' },
      { host: 'web3', privateKey: '/keys/mine', name: 'third' },
    ];
    const [web1, web2, db1, web3] = $.fleet(targets, { inventory, connect: recorder().connect }).hosts;
    assert.deepEqual(web1, {
      name: 'web1:2200',
      index: 0,
      target: {
        host: 'root@web1:2200',
        name: 'web1:2200',
        privateKey: '/keys/web',
        jump: 'bastion',
        env: { region: 'eu', replicas: '3', tier: 'web' },
      },
    });
    // `user` is the alias of `username`: the inventory's username gives way to it.
    assert.deepEqual(web2!.target, {
      host: 'web2',
      name: 'web2',
      user: 'me',
      privateKey: '/keys/web',
      jump: 'bastion',
      env: { region: 'us', replicas: '3', tier: 'mine', extra: 'x' },
    });
    assert.equal(db1!.name, 'db1:22');
    assert.deepEqual(db1!.target, {
      host: 'db1',
      name: 'db1:22',
      username: 'postgres',
      port: 22,
      via: 'other',
      connectTimeout: 2000,
      env: { region: 'eu', replicas: '3', role: 'primary' },
    });
    assert.equal(web3!.name, 'third');
    assert.deepEqual(web3!.target, {
      host: 'web3',
      name: 'third',
      username: 'www',
      privateKey: '/keys/mine',
      jump: 'bastion',
      env: { region: 'eu', replicas: '3', tier: 'web' },
    });
  });

  test('an inventory address is what is dialled: the host keeps its name, what the target wrote its user and port', () => {
    const addressed = parseInventory(`
hosts:
  web1: { address: 10.0.0.5, user: www }
  v6: { address: 'fd00::5' }
`);
    const f = $.fleet(['web1', 'root@web1:2200', { host: 'v6', port: 2222 }, 'ops@v6:22'], {
      inventory: addressed,
      connect: recorder().connect,
    });
    assert.deepEqual(
      f.hosts.map((h) => [h.name, h.target]),
      [
        ['web1', { host: '10.0.0.5', name: 'web1', username: 'www' }],
        ['web1:2200', { host: 'root@10.0.0.5:2200', name: 'web1:2200' }],
        ['v6:2222', { host: 'fd00::5', name: 'v6:2222', port: 2222 }],
        ['v6:22', { host: 'ops@[fd00::5]:22', name: 'v6:22' }],
      ],
    );
  });

  test('fleet.with() keeps the same hosts, names and targets', () => {
    const f = $.fleet('@web,db1', { inventory, connect: recorder().connect });
    const g = f.with({ concurrency: 1 });
    assert.deepEqual(g.names, f.names);
    assert.deepEqual(
      g.hosts.map((h) => h.target),
      f.hosts.map((h) => h.target),
    );
  });

  test('mistakes are usage errors before anything runs', () => {
    const { connect, seen } = recorder();
    assert.throws(
      () => $.fleet('@wbe', { inventory, connect }),
      (e: unknown) => e instanceof UsageError && /unknown group @wbe \(did you mean @web\?\)/.test(e.message),
    );
    const odd = parseInventory("groups:\n  odd: { hosts: 'odd[1-2]', vars: { 'bad-name': x } }\n");
    assert.throws(
      () => $.fleet('@odd', { inventory: odd, connect }),
      (e: unknown) =>
        e instanceof UsageError && /^odd1: inventory variable "bad-name" cannot be/.test(e.message),
    );
    assert.throws(
      () => $.fleet('web1', { inventory: {} as never, connect }),
      /option inventory: expected an Inventory, from loadInventory\(\), inventoryFromCommand\(\) or parseInventory\(\)/,
    );
    // Without an inventory, @groups are unknown as before.
    assert.throws(() => $.fleet('@web', { connect }), UsageError);
    assert.equal(seen.size, 0);
  });

  test('$.rolling: phase targets expand through the inventory and take its settings', async () => {
    const { connect, seen } = recorder();
    const report = await $.rolling({
      inventory,
      connect,
      phases: [
        { name: 'db', targets: 'db1', command: 'echo "$role"' },
        { name: 'web', targets: '@web', command: 'echo "$tier $region"', batches: [1, 2] },
      ],
    });
    assert.equal(report.ok, true);
    assert.deepEqual(report.done, ['db1', 'web1', 'web2', 'web3']);
    const out = report.phases.flatMap((p) => p.report.hosts.map((h) => `${h.host}: ${h.stdout}`));
    assert.deepEqual(out, ['db1: primary\n', 'web1: web eu\n', 'web2: web us\n', 'web3: web eu\n']);
    assert.equal(seen.get('db1')?.port, 2222);
    assert.equal(seen.get('web3')?.username, 'www');
    assert.throws(
      () => $.rolling({ inventory, connect, phases: [{ name: 'x', targets: '@nope', command: 'true' }] }),
      /unknown group @nope/,
    );
  });
});
