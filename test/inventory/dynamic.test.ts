// Groups from a command, run for real on this machine: an Ansible-style inventory script (its groups
// under the command's group, settings in Ansible's order, each command once per load), an old
// script without `_meta` (one `--host` call a host), a plain list, inventoryFromCommand(), and the
// failures: a non-zero exit with its stderr, bad JSON, a program that is missing or not executable,
// a hang killed by the timeout with what it started, and mistakes in the file. Over real sshd:
// test/cli/dynamic-inventory.test.ts.
import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  InventoryError,
  inventoryFromCommand,
  loadInventory,
  parseInventory,
  type Inventory,
} from '../../src/inventory/index.js';

const FIXTURE = fileURLToPath(new URL('fixtures/ansible-inventory.mjs', import.meta.url));

const CLUSTER = {
  user: 'root',
  dbUser: 'postgres',
  webKey: 'keys/web_ed25519',
  bastion: 'ops@bastion:2200',
  nodes: [
    { name: 'web-1', address: '10.0.0.1', port: 2201, role: 'web', region: 'eu' },
    { name: 'web-2', address: '10.0.0.2', port: 2202, role: 'web', region: 'us', user: 'alice' },
    { name: 'db-1', address: '10.0.0.3', port: 2203, role: 'db', region: 'eu' },
    { name: 'behind-1', address: '10.0.0.4', port: 2204, role: 'behind', region: 'eu' },
  ],
};

/** A folder with the fixture script, its cluster.json and `files`; removed after the test. */
function folder(
  t: { after: (fn: () => void) => void },
  files: Record<string, string> = {},
  cluster = CLUSTER,
) {
  const dir = mkdtempSync(join(tmpdir(), 'fleetsh-dynamic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(FIXTURE, join(dir, 'inventory.mjs'));
  chmodSync(join(dir, 'inventory.mjs'), 0o755);
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(cluster));
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text);
    if (name.endsWith('.sh')) chmodSync(join(dir, name), 0o755);
  }
  return {
    dir,
    path: (name: string) => join(dir, name),
    /** The fixture's invocations, one a line: `--list`, `--host web-1`, ... */
    invocations: () =>
      existsSync(join(dir, 'invocations.log'))
        ? readFileSync(join(dir, 'invocations.log'), 'utf8').split('\n').filter(Boolean)
        : [],
  };
}

/** Alive: in the process table and not a zombie (an orphan's zombie waits for a reaper that may not come). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

const YAML = `defaults: { user: nobody, vars: { site: home } }
hosts:
  web-2: { vars: { region: moon } }
groups:
  cloud:
    command: ./inventory.mjs
    port: 1
    vars: { owner: me, env: yaml }
  again: { command: [./inventory.mjs] }
  canary: { hosts: '@cloud.web&web-1' }
`;

describe('an Ansible-style inventory script', () => {
  test("its groups under the command's group, and children under their parents", async (t) => {
    const f = folder(t, { 'fleetsh.yml': YAML });
    const inv = await loadInventory(f.path('fleetsh.yml'));
    assert.deepEqual(inv.groups(), [
      'cloud',
      'cloud.behind',
      'cloud.db',
      'cloud.prod',
      'cloud.web',
      'again',
      'again.behind',
      'again.db',
      'again.prod',
      'again.web',
      'canary',
    ]);
    assert.deepEqual(inv.resolveGroup('cloud').hosts, ['web-1', 'web-2', 'db-1', 'behind-1']);
    assert.deepEqual(inv.resolveGroup('cloud.prod').hosts, ['web-1', 'web-2', 'db-1', 'behind-1']);
    assert.deepEqual(inv.resolveGroup('cloud.web').hosts, ['web-1', 'web-2']);
    assert.deepEqual(inv.resolveGroup('canary').hosts, ['web-1']);
    assert.equal(inv.select('@cloud.prod!@cloud.web').toString(), 'behind-1,db-1');
    assert.deepEqual(inv.groupsOf('db-1'), [
      'cloud',
      'again',
      'cloud.prod',
      'again.prod',
      'cloud.db',
      'again.db',
    ]);
  });

  test('settings in order: the group, the `all` vars, parent then child groups, hostvars, then hosts: entries', async (t) => {
    const f = folder(t, { 'fleetsh.yml': YAML });
    const inv = await loadInventory(f.path('fleetsh.yml'));
    assert.deepEqual(inv.targetFor('web-1'), {
      host: '10.0.0.1', // ansible_host
      name: 'web-1',
      username: 'root', // prod's ansible_user over the file's `user: nobody`
      port: 2201, // the host's ansible_port over all's (1) and the group's `port: 1`
      privateKey: join(f.dir, 'keys/web_ed25519'), // relative to the inventory's folder
      // site (defaults), owner (the group), env (`all` over the group), tier (web over prod), region (host)
      env: { site: 'home', owner: 'me', env: 'test', tier: 'web', region: 'eu' },
    });
    // The host's own ansible_user over its groups'; the file's hosts: entry over the host's vars.
    const web2 = inv.targetFor('web-2');
    assert.equal(web2.username, 'alice');
    assert.equal(web2.env?.region, 'moon');
    assert.equal(inv.targetFor('db-1').username, 'postgres', "db's ansible_user over its parent prod's");
    const behind = inv.targetFor('behind-1');
    assert.equal(behind.jump, 'ops@bastion:2200');
    assert.equal(behind.hostKeyPolicy, 'strict');
    assert.equal(inv.targetFor('web-1').jump, undefined);
    // Ansible's own variables and names that cannot be environment variables stay out.
    assert.equal(
      Object.keys(inv.settingsFor('web-1').vars).some((k) => k.startsWith('ansible_') || k.includes(':')),
      false,
    );
    // One warning: a second group of the same command adds none.
    assert.deepEqual(
      inv.warnings.map((w) => [w.line, w.path, w.message]),
      [
        [
          6,
          'groups.cloud.command',
          'the command of @cloud (./inventory.mjs): variables whose names cannot be environment variable names ' +
            'were left out: "ec2_tag_aws:cloudformation:stack-name" (behind-1,db-1,web-[1-2])',
        ],
      ],
    );
  });

  test('runs once per load, in the inventory folder, whichever groups and selections use it', async (t) => {
    const f = folder(t, { 'fleetsh.yml': YAML });
    const elsewhere = process.cwd();
    assert.notEqual(elsewhere, f.dir);
    const inv = await loadInventory(f.path('fleetsh.yml'));
    inv.select('@cloud.web,@again.db,@canary');
    inv.select('@all');
    for (const h of inv.hosts()) inv.targetFor(h);
    assert.deepEqual(f.invocations(), ['--list']);
    await loadInventory(f.path('fleetsh.yml'));
    assert.deepEqual(
      f.invocations(),
      ['--list', '--list'],
      'each load runs it again: the hosts may have changed',
    );
  });

  test('without _meta, each host is asked with --host, and gets the same settings', async (t) => {
    const withMeta = folder(t, { 'fleetsh.yml': YAML });
    const f = folder(t, { 'fleetsh.yml': YAML }, { ...CLUSTER, meta: false } as typeof CLUSTER);
    const [expected, inv] = await Promise.all([
      loadInventory(withMeta.path('fleetsh.yml')),
      loadInventory(f.path('fleetsh.yml')),
    ]);
    const target = (i: Inventory, folder: string, host: string) =>
      JSON.stringify(i.targetFor(host)).replaceAll(folder, 'DIR');
    for (const h of expected.hosts())
      assert.equal(target(inv, f.dir, h), target(expected, withMeta.dir, h), h);
    const calls = f.invocations();
    assert.equal(calls[0], '--list');
    assert.deepEqual(calls.slice(1).sort(), [
      '--host behind-1',
      '--host db-1',
      '--host web-1',
      '--host web-2',
    ]);
  });

  test("inventoryFromCommand: its groups are the inventory's, `all` its defaults; or under a group", async (t) => {
    const f = folder(t);
    const inv = await inventoryFromCommand('./inventory.mjs', { dir: f.dir });
    assert.deepEqual(inv.groups(), ['all', 'behind', 'db', 'prod', 'web']);
    assert.deepEqual(inv.select('@all').hosts, ['web-1', 'web-2', 'db-1', 'behind-1']);
    assert.deepEqual(inv.targetFor('db-1'), {
      host: '10.0.0.3',
      name: 'db-1',
      username: 'postgres',
      port: 2203,
      env: { env: 'test', tier: 'db', region: 'eu' },
    });
    const grouped = await inventoryFromCommand([join(f.dir, 'inventory.mjs')], { dir: f.dir, group: 'aws' });
    assert.deepEqual(grouped.groups(), ['aws', 'aws.behind', 'aws.db', 'aws.prod', 'aws.web']);
    assert.deepEqual(grouped.targetFor('db-1'), inv.targetFor('db-1'));
    assert.deepEqual(f.invocations(), ['--list', '--list']);
    await assert.rejects(inventoryFromCommand([]), /inventoryFromCommand: expected a program/);
    await assert.rejects(
      inventoryFromCommand('x', { group: 'a b' }),
      /option group: a group name may hold only/,
    );
    await assert.rejects(inventoryFromCommand('x', { timeout: '5' }), /option timeout "5" needs a unit/);
  });
});

test('a command that prints one host a line', async (t) => {
  const f = folder(t, {
    'hosts.sh': '#!/bin/sh\necho "# from consul"\necho web-1\necho "web-[2-3]"\necho "db-1 # primary"\n',
    'fleetsh.yml': 'groups:\n  consul: { command: ./hosts.sh, user: deploy, vars: { from: consul } }\n',
  });
  const inv = await loadInventory(f.path('fleetsh.yml'));
  assert.deepEqual(inv.groups(), ['consul']);
  assert.deepEqual(inv.resolveGroup('consul').hosts, ['web-1', 'web-2', 'web-3', 'db-1']);
  assert.deepEqual(inv.targetFor('web-3'), {
    host: 'web-3',
    name: 'web-3',
    username: 'deploy',
    env: { from: 'consul' },
  });
});

describe('a command that fails is an InventoryError naming the group, the command and the end of its stderr', () => {
  async function failure(
    t: Parameters<typeof folder>[0],
    script: string,
    count = 1,
  ): Promise<InventoryError> {
    const f = folder(t, {
      'hosts.sh': script,
      'fleetsh.yml': `defaults: { user: x }\ngroups:\n  consul:\n    command: ./hosts.sh\n  web: '@consul.web'\n`,
    });
    const e = await loadInventory(f.path('fleetsh.yml')).then(
      () => assert.fail('expected an InventoryError'),
      (e: unknown) => e,
    );
    assert.ok(e instanceof InventoryError, String(e));
    assert.equal(e.kind, 'usage');
    // Only the command's problems: not also "unknown group @consul.web" for the group that uses it.
    assert.equal(e.issues.length, count, e.message);
    for (const issue of e.issues) assert.deepEqual([issue.line, issue.path], [4, 'groups.consul.command']);
    return e;
  }

  test('a non-zero exit, with the last lines of its stderr', async (t) => {
    const lines = Array.from({ length: 8 }, (_, i) => `echo "log line ${i + 1}" >&2`).join('\n');
    const e = await failure(t, `#!/bin/sh\n${lines}\necho "consul: connection refused" >&2\nexit 3\n`);
    assert.match(
      e.message,
      /fleetsh\.yml:4: groups\.consul\.command: the command of @consul, \.\/hosts\.sh --list, exited with code 3; its stderr ends with:\n {4}log line 5\n {4}log line 6\n {4}log line 7\n {4}log line 8\n {4}consul: connection refused$/,
    );
  });

  test('output that is neither hosts nor JSON', async (t) => {
    const e = await failure(t, '#!/bin/sh\necho \'{"web": {"hosts": ["a"]\'\n');
    assert.match(
      e.message,
      /the command of @consul, \.\/hosts\.sh --list, printed output fleetsh cannot use: its output is not valid JSON/,
    );
    const e2 = await failure(t, '#!/bin/sh\necho \'{"web": {"hosts": ["a b"]}}\'\n');
    assert.match(e2.message, /printed output fleetsh cannot use: host "a b": a host name may hold only/);
  });

  test('a program that is missing, not executable, or a folder', async (t) => {
    const f = folder(t, {
      'plain.sh': '#!/bin/sh\necho web-1\n',
      'a.yml': 'groups:\n  a: { command: ./nope.sh }\n',
      'b.yml': 'groups:\n  b: { command: ./plain.txt }\n',
      'c.yml': 'groups:\n  c: { command: fleetsh-no-such-program-here }\n',
      'd.yml': 'groups:\n  d: { command: ./ }\n',
      'plain.txt': 'web-1\n',
    });
    const message = (yml: string) =>
      loadInventory(f.path(yml)).then(
        () => assert.fail('expected an InventoryError'),
        (e: InventoryError) => e.message,
      );
    assert.match(
      await message('a.yml'),
      new RegExp(`@a, ./nope.sh --list, was not found: no such file ${f.dir}/nope.sh$`),
    );
    assert.match(
      await message('b.yml'),
      /@b, .\/plain.txt --list, is not executable \(chmod \+x it, and give it a #! line\)$/,
    );
    assert.match(
      await message('c.yml'),
      /@c, fleetsh-no-such-program-here --list, was not found on the PATH/,
    );
    assert.match(await message('d.yml'), /@d, .\/ --list, is a directory, not a program$/);
  });

  test('a failing --host call fails the command: the calls running are stopped, no more are started', async (t) => {
    const f = folder(t, {
      'old.sh': [
        '#!/bin/sh',
        'case "$1" in',
        '  --list) echo \'{"web": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]}\' ;;',
        '  --host) echo $$ > "calls/$2"; [ "$2" = a ] && { echo "no vars for $2" >&2; exit 1; }; sleep 30; echo "{}" ;;',
        'esac',
      ].join('\n'),
      'fleetsh.yml': 'groups:\n  old: { command: ./old.sh }\n',
    });
    mkdirSync(f.path('calls'));
    const started = Date.now();
    await assert.rejects(
      loadInventory(f.path('fleetsh.yml')),
      /the command of @old, \.\/old\.sh --host a, exited with code 1; its stderr ends with:\n {4}no vars for a$/,
    );
    // The others were stopped, not waited for: their 30 s sleep would take longer than this.
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    // At most the first 8 calls started (8 at a time), and those still running were ended.
    const calls = readdirSync(f.path('calls')).sort();
    assert.ok(
      calls.includes('a') && calls.length <= 8 && !calls.includes('i') && !calls.includes('j'),
      calls.join(','),
    );
    for (const call of calls) {
      const pid = Number(readFileSync(join(f.path('calls'), call), 'utf8'));
      assert.equal(alive(pid), false, `--host ${call} (${pid}) still running`);
    }
  });

  test('variables with wrong values name their host or group, all at once', async (t) => {
    const json = JSON.stringify({
      web: { hosts: ['a'], vars: { ansible_port: 'x' } },
      _meta: { hostvars: { a: { ansible_user: '' } } },
    });
    const e = await failure(t, `#!/bin/sh\necho '${json}'\n`, 2);
    assert.deepEqual(
      e.issues.map((i) => i.message),
      [
        'the command of @consul (./hosts.sh) printed a variable fleetsh cannot use: group web: ansible_port: expected a port from 1 to 65535, got "x"',
        'the command of @consul (./hosts.sh) printed a variable fleetsh cannot use: a: ansible_user: expected a name without spaces, got ""',
      ],
    );
  });

  test('a group of the command whose name the file already has', async (t) => {
    const f = folder(t, {
      'fleetsh.yml': 'groups:\n  cloud: { command: ./inventory.mjs }\n  cloud.web: web-9\n',
    });
    await assert.rejects(
      loadInventory(f.path('fleetsh.yml')),
      /fleetsh\.yml:2: groups\.cloud\.command: the command of @cloud \(\.\/inventory\.mjs\) lists group web, which would be @cloud\.web, a group this file already has: rename one/,
    );
  });

  test('a group the command does not list is an unknown group, with a suggestion', async (t) => {
    const f = folder(t, {
      'fleetsh.yml': "groups:\n  cloud: { command: ./inventory.mjs }\n  x: '@cloud.webb'\n",
    });
    await assert.rejects(
      loadInventory(f.path('fleetsh.yml')),
      /fleetsh\.yml:3: groups\.x: .*unknown group @cloud\.webb \(did you mean @cloud\.web\?\)/s,
    );
  });
});

describe('a command that hangs or floods is stopped, with what it started', () => {
  // The script and its child record their pids, then wait on a 60 s sleep.
  for (const [what, trap] of [
    ['SIGTERM ends it', ''],
    ['SIGKILL ends it when it ignores SIGTERM', "trap '' TERM\n"],
  ] as const) {
    test(what, async (t) => {
      const f = folder(t, {
        'hang.sh': `#!/bin/sh\n${trap}echo $$ > script.pid\nsleep 60 &\necho $! > child.pid\nwait\n`,
        'fleetsh.yml': 'groups:\n  slow:\n    command: ./hang.sh\n    commandTimeout: 1s\n',
      });
      const started = Date.now();
      await assert.rejects(
        loadInventory(f.path('fleetsh.yml')),
        /fleetsh\.yml:3: groups\.slow\.command: the command of @slow, \.\/hang\.sh --list, did not finish within 1 s and was killed \(raise commandTimeout if it is only slow\)$/,
      );
      const took = Date.now() - started;
      // 1 s of timeout, then at most 1 s of grace after SIGTERM and 1 s for the pipes: well under
      // 10 s even on a busy 2-core machine, and far under the 60 s the script would take.
      assert.ok(took >= 1000 && took < 10_000, `took ${took} ms`);
      // A process sent SIGKILL ends when it next runs: on a loaded machine that can be a moment later.
      for (const file of ['script.pid', 'child.pid']) {
        const pid = Number(readFileSync(f.path(file), 'utf8'));
        for (let i = 0; i < 30 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
        assert.equal(alive(pid), false, `${file} (${pid}) still running 3 s after the command was stopped`);
      }
    });
  }

  test('a command that prints without end is stopped at 64 MiB', async (t) => {
    const f = folder(t, {
      'flood.sh': '#!/bin/sh\nexec yes web-1\n',
      'fleetsh.yml': 'groups:\n  flood:\n    command: ./flood.sh\n    commandTimeout: 60s\n',
    });
    const started = Date.now();
    await assert.rejects(
      loadInventory(f.path('fleetsh.yml')),
      /the command of @flood, \.\/flood\.sh --list, printed more than 64 MiB and was stopped$/,
    );
    assert.ok(Date.now() - started < 30_000, 'stopped by its size, not by the timeout');
  });

  test('the timeout bounds the --host calls too', async (t) => {
    const f = folder(t, {
      'old.sh':
        '#!/bin/sh\ncase "$1" in --list) echo \'{"web": ["a", "b"]}\' ;; --host) exec sleep 60 ;; esac\n',
      'fleetsh.yml': 'groups:\n  old:\n    command: ./old.sh\n    commandTimeout: 1s\n',
    });
    await assert.rejects(
      loadInventory(f.path('fleetsh.yml')),
      /@old, \.\/old\.sh --host [ab], did not finish within/,
    );
  });
});

describe('command groups in the file', () => {
  test('mistakes are reported at file:line, and a file with mistakes runs no commands', async (t) => {
    const f = folder(t, {
      'fleetsh.yml': [
        'groups:',
        '  a: { command: ./inventory.mjs, hosts: web1 }',
        '  b: { command: { run: x } }',
        '  c: { hosts: web1, commandTimeout: 5s }',
        '  d: { command: ./inventory.mjs, commandTimeout: 5 }',
        '  e: { command: ./inventory.mjs, comand: x }',
        '',
      ].join('\n'),
    });
    const e = await loadInventory(f.path('fleetsh.yml')).then(
      () => assert.fail('expected an InventoryError'),
      (e: InventoryError) => e,
    );
    assert.deepEqual(
      e.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`),
      [
        '2: groups.a.hosts: a group with a command takes its hosts from the command; list other hosts in another group',
        '3: groups.b.command: expected a program to run, like ./hosts.sh, or a list of the program and its arguments, got a mapping',
        '4: groups.c.commandTimeout: commandTimeout is for a group with a command:',
        '5: groups.d.commandTimeout: expected a duration with its unit, like 10s or 500ms, got 5',
        '6: groups.e.comand: unknown key "comand" (did you mean "command"?)',
      ],
    );
    assert.deepEqual(f.invocations(), []);
  });

  test('parseInventory() reads text and runs nothing: a command group needs loadInventory()', () => {
    assert.throws(
      () => parseInventory('groups:\n  cloud: { command: ./inventory.mjs }\n'),
      (e: unknown) =>
        e instanceof InventoryError &&
        e.message ===
          'inventory:2: groups.cloud.command: parseInventory() runs no commands: use loadInventory(file) for a group with a command',
    );
  });

  test('address: the name or address to dial, as ansible_host', () => {
    const inv: Inventory = parseInventory('hosts:\n  web1: { address: 10.0.0.5 }\n');
    assert.deepEqual(inv.targetFor('web1'), { host: '10.0.0.5', name: 'web1' });
  });
});
