// The inventory file: groups, nested groups, selection, settings precedence, and validation errors
// that name file:line and the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HostSetError,
  InventoryError,
  loadInventory,
  parseInventory,
  type Inventory,
} from '../../src/inventory/index.js';
import { UsageError } from '../../src/process/errors.js';

const SAMPLE = `# A sample fleet.
defaults: { user: deploy, port: 22, identity: ~/.ssh/id_ed25519, jump: bastion, hostKeyPolicy: strict, connectTimeout: 10s, vars: { region: eu, tier: none } }
hosts:               # optional per-host settings
  db1.prod: { port: 2222, vars: { role: primary } }
  'web[2-3].prod': { vars: { canary: false } }
  web3.prod: { user: ops, identity: keys/web3 }
groups:
  web: { hosts: 'web[1-3].prod', user: www, vars: { tier: web } }
  api: 'api[1-2].prod'          # short form
  prod:                          # nested groups
    children: [web, api, db]
    user: produser
    jump: none
    vars: { env: prod, tier: prod }
  db: { hosts: [db1.prod, 'db[2-3].prod'], connectTimeout: 2s }
  canary: { hosts: '@web&web1.prod', vars: { canary: true } }
  listed: { hosts: ^extra.txt }
  empty:
  base: &base { user: based, port: 2022 }
  merged: { <<: *base, port: 2023, hosts: merged1 }
`;

async function sample(t: { after: (fn: () => void) => void }): Promise<Inventory> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetsh-inventory-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'fleetsh.yml'), SAMPLE);
  writeFileSync(join(dir, 'extra.txt'), '# listed in a file\nextra[1-2]\n');
  return loadInventory(join(dir, 'fleetsh.yml'));
}

test('groups, nested groups, @references and ^files resolve to host sets', async (t) => {
  const inv = await sample(t);
  assert.deepEqual(inv.groups(), ['web', 'api', 'prod', 'db', 'canary', 'listed', 'empty', 'base', 'merged']);
  assert.equal(inv.resolveGroup('web').toString(), 'web[1-3].prod');
  assert.equal(inv.resolveGroup('@prod').toString(), 'api[1-2].prod,db[1-3].prod,web[1-3].prod');
  assert.deepEqual(inv.resolveGroup('canary').hosts, ['web1.prod']);
  assert.deepEqual(inv.resolveGroup('listed').hosts, ['extra1', 'extra2']);
  assert.equal(inv.resolveGroup('empty').size, 0);
  assert.deepEqual(inv.resolveGroup('merged').hosts, ['merged1']);
  assert.equal(inv.hosts().size, 11);
  assert.throws(
    () => inv.resolveGroup('wbe'),
    (e: unknown) => e instanceof UsageError && /unknown group "wbe" \(did you mean @web\?\)/.test(e.message),
  );
});

test("select: @groups from the inventory, the caller's groups first, @all", async (t) => {
  const inv = await sample(t);
  assert.equal(inv.select('@prod!@web').toString(), 'api[1-2].prod,db[1-3].prod');
  assert.equal(inv.select('@web&web[2-9].prod,@api').toString(), 'api[1-2].prod,web[2-3].prod');
  const failed = ['web2.prod', 'db1.prod'];
  assert.equal(
    inv.select('@prod&@failed', { groups: (n) => (n === 'failed' ? failed : undefined) }).toString(),
    'db1.prod,web2.prod',
  );
  assert.equal(
    inv.select('@web', { groups: (n) => (n === 'web' ? ['mine'] : undefined) }).toString(),
    'mine',
  );
  assert.equal(inv.select('@all').size, 11);
  assert.throws(
    () => inv.select('web1,@dbb'),
    (e: unknown) =>
      e instanceof HostSetError && e.column === 6 && e.reason === 'unknown group @dbb (did you mean @db?)',
  );
});

test('settings: host over group, deeper group over its parent, later group at equal depth, then defaults', async (t) => {
  const inv = await sample(t);
  // prod and canary are top groups (depth 0, prod first in the file); web is prod's child (depth 1).
  assert.deepEqual(inv.groupsOf('web1.prod'), ['prod', 'canary', 'web']);
  assert.deepEqual(inv.settingsFor('web1.prod'), {
    user: 'www',
    port: 22,
    identity: '~/.ssh/id_ed25519',
    hostKeyPolicy: 'strict',
    connectTimeout: 10_000,
    vars: { region: 'eu', tier: 'web', env: 'prod', canary: true },
  });
  const web3 = inv.settingsFor('web3.prod');
  assert.equal(web3.user, 'ops');
  assert.match(web3.identity!, /fleetsh-inventory-[^/]+\/keys\/web3$/);
  assert.deepEqual(web3.vars, { region: 'eu', tier: 'web', env: 'prod', canary: false });
  const db1 = inv.settingsFor('db1.prod');
  assert.equal(db1.port, 2222);
  assert.equal(db1.user, 'produser');
  assert.equal(db1.connectTimeout, 2_000);
  assert.equal(db1.jump, undefined, 'prod says jump: none');
  assert.deepEqual(db1.vars, { region: 'eu', tier: 'prod', env: 'prod', role: 'primary' });
  const outside = inv.settingsFor('elsewhere');
  assert.equal(outside.jump, 'bastion');
  assert.equal(outside.user, 'deploy');
  assert.deepEqual(outside.vars, { region: 'eu', tier: 'none' });
  assert.deepEqual(inv.settingsFor('merged1'), { ...outside, user: 'based', port: 2023, vars: outside.vars });
  // Returned vars are a copy.
  outside.vars.region = 'us';
  assert.equal(inv.settingsFor('elsewhere').vars.region, 'eu');
});

test('equal depth: the group written later wins; a child group wins even when written first', () => {
  const inv = parseInventory(
    [
      'groups:',
      '  inner: { hosts: h1, user: inner }',
      '  outer: { children: [inner], user: outer, port: 2200 }',
      '  b: { hosts: h1, port: 2201 }',
      '  a: { hosts: h1, port: 2202 }',
    ].join('\n'),
  );
  assert.deepEqual(inv.groupsOf('h1'), ['outer', 'b', 'a', 'inner']);
  assert.equal(inv.settingsFor('h1').user, 'inner');
  assert.equal(inv.settingsFor('h1').port, 2202);
});

test('an empty file is an empty inventory; a missing file is an InventoryError naming it', async () => {
  assert.deepEqual(parseInventory('').groups(), []);
  assert.deepEqual(parseInventory('# nothing yet\n').hosts().hosts, []);
  await assert.rejects(loadInventory('/nonexistent/fleetsh.yml'), {
    name: 'InventoryError',
    message: '/nonexistent/fleetsh.yml: cannot read the inventory: no such file',
  });
});

/** The issues of an inventory text, as the formatted lines of the error message. */
function problems(text: string): string[] {
  try {
    parseInventory(text, { file: 'fleetsh.yml', readFile: () => 'x1' });
  } catch (e) {
    assert.ok(e instanceof InventoryError, String(e));
    assert.ok(e instanceof UsageError);
    assert.equal(e.kind, 'usage');
    return e.message.split('\n');
  }
  assert.fail('no error');
}

test('validation: a wrong type names file:line and the key', () => {
  const text = [
    'defaults:',
    '  user: deploy',
    'groups:',
    '  api: api1',
    '  web:',
    "    hosts: 'web[1-3]'",
    '    port: abc',
  ].join('\n');
  assert.deepEqual(problems(text), ['fleetsh.yml:7: groups.web.port: expected a number, got "abc"']);
});

test('validation: every problem is reported at once, in line order', () => {
  const text = [
    /* 1 */ 'defaults:',
    /* 2 */ '  prot: 22',
    /* 3 */ '  user: 7',
    /* 4 */ '  hostKeyPolicy: stric',
    /* 5 */ '  connectTimeout: 10',
    /* 6 */ '  vars: [a]',
    /* 7 */ 'hosts:',
    /* 8 */ '  db1: { port: 70000, identity: "" }',
    /* 9 */ '  "@web": { port: 22 }',
    /* 10 */ 'groups:',
    /* 11 */ "  web: { hosts: 'web[1-', children: web2 }",
    /* 12 */ '  api: { hosts: [api1, 7], childern: [web] }',
    /* 13 */ '  c: { children: [dbx] }',
    /* 14 */ "  d: '@apx'",
    /* 15 */ "  e: '@all'",
    /* 16 */ '  "bad name": x',
    /* 17 */ 'extra: 1',
  ].join('\n');
  assert.deepEqual(problems(text), [
    'fleetsh.yml:2: defaults.prot: unknown key "prot" (did you mean "port"?)',
    'fleetsh.yml:3: defaults.user: expected a string, got 7',
    'fleetsh.yml:4: defaults.hostKeyPolicy: expected one of strict, accept-new, off, got "stric" (did you mean "strict"?)',
    'fleetsh.yml:5: defaults.connectTimeout: expected a duration with its unit, like 10s or 500ms, got 10',
    'fleetsh.yml:6: defaults.vars: expected a mapping of variables, got a list',
    'fleetsh.yml:8: hosts.db1.port: expected a port from 1 to 65535, got 70000',
    'fleetsh.yml:8: hosts.db1.identity: expected a non-empty string, got ""',
    'fleetsh.yml:9: hosts["@web"]: a host entry cannot name a group: give @web its settings under groups: (column 1)',
    '  @web',
    '  ^',
    'fleetsh.yml:11: groups.web.children: expected a list of group names, got "web2"',
    'fleetsh.yml:11: groups.web.hosts: expected a number after "-", found the end (the "[" at column 4 is not closed) (column 7)',
    '  web[1-',
    '        ^',
    "fleetsh.yml:12: groups.api.hosts[1]: expected a host set expression like 'web[1-3].prod', got 7",
    'fleetsh.yml:12: groups.api.childern: unknown key "childern" (did you mean "children"?)',
    'fleetsh.yml:13: groups.c.children[0]: unknown group "dbx"',
    'fleetsh.yml:14: groups.d: unknown group @apx (did you mean @api?) (column 1)',
    '  @apx',
    '  ^',
    'fleetsh.yml:15: groups.e: @all (every host of the inventory) cannot be used to define a group (column 1)',
    '  @all',
    '  ^',
    'fleetsh.yml:16: groups["bad name"]: a group name may hold only letters, digits, ".", "_", ":" and "-"',
    'fleetsh.yml:17: extra: unknown key "extra"; expected one of defaults, hosts, groups',
  ]);
});

test('validation: cycles through children and through @references, at the line that closes them', () => {
  assert.deepEqual(
    problems(
      ['groups:', '  a: { children: [b] }', '  b: { children: [c] }', '  c: { hosts: "x,@a" }'].join('\n'),
    ),
    ['fleetsh.yml:4: groups.c.hosts: group cycle: @a → @b → @c → @a'],
  );
  assert.deepEqual(problems(['groups:', '  self: "@self"'].join('\n')), [
    'fleetsh.yml:2: groups.self: group cycle: @self → @self',
  ]);
});

test('validation: YAML syntax errors and duplicate keys name the line', () => {
  const [first] = problems('groups:\n  web: { hosts: a\n  db: b\n');
  assert.match(first!, /^fleetsh\.yml:\d+: invalid YAML: /);
  const dup = problems('groups:\n  web: a\n  web: b\n');
  assert.match(dup[0]!, /^fleetsh\.yml:3: invalid YAML: Map keys must be unique/);
  assert.deepEqual(problems('- a\n- b\n'), [
    'fleetsh.yml:1: expected a mapping with defaults, hosts and groups, got a list',
  ]);
});

test('a ^file in a group is read relative to the inventory, and a missing one is reported at its line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetsh-inventory-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'list'), 'l[1-2]\n');
  const inv = parseInventory('groups:\n  g: ^list\n', { dir });
  assert.deepEqual(inv.resolveGroup('g').hosts, ['l1', 'l2']);
  assert.throws(() => parseInventory('groups:\n  ok: a\n  g: ^missing\n', { dir, file: 'inv.yml' }), {
    message: 'inv.yml:3: groups.g: cannot read host file missing: no such file (column 1)\n  ^missing\n  ^',
  });
});

test("selectList: a pasted list whose @groups are the inventory's", () => {
  const inv = parseInventory("groups:\n  web: 'web[1-3]'\n");
  assert.deepEqual(inv.selectList('@web\n# skip\nroot@db1\n').hosts, ['web1', 'web2', 'web3', 'root@db1']);
  assert.throws(
    () => inv.selectList('web1\n@nope\n', { source: 'stdin' }),
    /in stdin:2: unknown group @nope/,
  );
});

test('transport: a group or a host says ssh2 or openssh; the most specific wins; a typo is named at file:line', () => {
  const inv = parseInventory(
    [
      'hosts:',
      '  db1: { transport: ssh2 }',
      'groups:',
      '  corp: { hosts: [db1, app1], transport: openssh }',
    ].join('\n'),
    { file: 'fleetsh.yml', readFile: () => '' },
  );
  assert.equal(inv.targetFor('app1').transport, 'openssh');
  assert.equal(inv.targetFor('db1').transport, 'ssh2', 'the host setting over its group');
  assert.equal(inv.targetFor('other').transport, undefined);
  assert.deepEqual(problems('defaults:\n  transport: opensh\n'), [
    'fleetsh.yml:2: defaults.transport: expected one of ssh2, openssh, got "opensh" (did you mean "openssh"?)',
  ]);
});

test('forwardAgent: true, false or an agent socket path, for a group or a host (the host wins); anything else named at file:line', () => {
  const inv = parseInventory(
    [
      'defaults: { forwardAgent: false }',
      'groups:',
      "  ops: { hosts: 'bastion[1-2]', forwardAgent: true }",
      'hosts:',
      '  bastion2: { forwardAgent: ~/.ssh/ops-agent.sock }',
      '  db1: { forwardAgent: /run/user/1000/agent.sock }',
    ].join('\n'),
    { file: 'fleetsh.yml', readFile: () => '' },
  );
  assert.equal(inv.targetFor('bastion1').forwardAgent, true);
  assert.equal(inv.targetFor('bastion2').forwardAgent, '~/.ssh/ops-agent.sock', 'the host entry wins');
  assert.equal(inv.targetFor('db1').forwardAgent, '/run/user/1000/agent.sock');
  assert.equal(inv.targetFor('web1').forwardAgent, false, 'the default');
  assert.deepEqual(problems('defaults:\n  forwardAgent: yes please\n'), [
    'fleetsh.yml:2: defaults.forwardAgent: expected true, false or an ssh-agent socket path (absolute or ~/...), got "yes please"',
  ]);
  assert.deepEqual(problems('defaults:\n  forwardAgent: agent.sock\n'), [
    'fleetsh.yml:2: defaults.forwardAgent: expected true, false or an ssh-agent socket path (absolute or ~/...), got "agent.sock"',
  ]);
});

test('zone: a group or host names its scale-out zone (a host entry wins), validated at file:line', () => {
  const inv = parseInventory(
    [
      'groups:',
      "  eu: { hosts: 'web[1-2]', zone: eu-west }",
      'hosts:',
      '  web2: { zone: eu_2 }',
      '  db1:',
    ].join('\n'),
  );
  assert.equal(inv.settingsFor('web1').zone, 'eu-west');
  assert.equal(inv.settingsFor('web2').zone, 'eu_2');
  assert.equal(inv.settingsFor('db1').zone, undefined, 'no zone: the default one');
  assert.equal('zone' in inv.targetFor('web1'), false, 'a zone is no SSH option');
  assert.deepEqual(problems(['defaults:', '  zone: eu.west'].join('\n')), [
    'fleetsh.yml:2: defaults.zone: expected a zone name (1 to 64 letters, digits, _ or -), got "eu.west"',
  ]);
});
