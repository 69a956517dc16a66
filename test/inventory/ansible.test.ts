// Reading what an inventory command prints (one host a line, or Ansible's `--list` JSON as Ansible's
// script plugin reads it) and Ansible's variables as fleetsh settings: connection variables become
// settings, Ansible's other variables are dropped, names that cannot be environment variables are
// left out with a note, and wrong connection values are refused by name.
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { test } from 'node:test';
import {
  readCommandOutput,
  readHostVars,
  settingsOfVars,
  type VarNote,
} from '../../src/inventory/ansible.js';

const MAX = 1_000_000;

test('one host a line: comments and blank lines skipped, ranges expanded, repeats once', () => {
  const out = readCommandOutput('# from consul\nweb1\n\nweb[2-3]  # two more\nweb1\ndb1.prod\r\n', MAX);
  assert.deepEqual(out.hosts, ['web1', 'web2', 'web3', 'db1.prod']);
  assert.deepEqual(out.groups, []);
  assert.deepEqual(out.hostvars, new Map(), 'lines need no --host calls');
});

test('lines: @groups and ^files are refused, with the line; maxHosts holds', () => {
  assert.throws(
    () => readCommandOutput('web1\n@db\n', MAX),
    /^Error: line 2 of its output: .*a command lists hosts, not @groups/s,
  );
  assert.throws(() => readCommandOutput('^hosts.txt\n', MAX), /line 1 of its output: .*not \^files/s);
  assert.throws(() => readCommandOutput('web[1-3\n', MAX), /line 1 of its output: .*the "\[" at column 4 is not closed/);
  assert.throws(() => readCommandOutput('a[1-5]\n', 3), /more than 3/);
});

// The example of Ansible's "Developing dynamic inventory" page, with children and _meta.
const ANSIBLE_DOCS_EXAMPLE = {
  group001: { hosts: ['host001', 'host002'], vars: { var1: true }, children: ['group002'] },
  group002: { hosts: ['host003', 'host004'], vars: { var2: 500 }, children: [] },
  _meta: { hostvars: { host001: { var001: 'value' }, host002: { var002: 'value' } } },
};

test("Ansible's JSON: groups with hosts, vars and children, and _meta.hostvars", () => {
  const out = readCommandOutput(JSON.stringify(ANSIBLE_DOCS_EXAMPLE), MAX);
  assert.deepEqual(out.hosts, ['host001', 'host002', 'host003', 'host004']);
  assert.deepEqual(out.groups, [
    { name: 'group001', hosts: ['host001', 'host002'], children: ['group002'], vars: { var1: true } },
    { name: 'group002', hosts: ['host003', 'host004'], children: [], vars: { var2: 500 } },
  ]);
  assert.deepEqual(out.allVars, {});
  assert.deepEqual(
    out.hostvars,
    new Map([
      ['host001', { var001: 'value' }],
      ['host002', { var002: 'value' }],
    ]),
  );
});

test("Ansible's shorter forms: a list is a group's hosts; an object without hosts/vars/children is a host", () => {
  const out = readCommandOutput(
    JSON.stringify({
      web: ['web1', 'web2'],
      lonely: { region: 'eu' },
      all: { hosts: ['extra1'], vars: { env: 'prod' }, children: ['web'] },
      parent: { children: ['implicit'] },
    }),
    MAX,
  );
  assert.deepEqual(out.hosts, ['web1', 'web2', 'lonely', 'extra1']);
  assert.deepEqual(
    out.groups.map((g) => [g.name, g.hosts, g.children, g.vars]),
    [
      // ASCII order, Ansible's for groups of equal depth; `all` is not a group of its own.
      ['implicit', [], [], {}],
      ['lonely', ['lonely'], [], { region: 'eu' }],
      ['parent', [], ['implicit'], {}],
      ['web', ['web1', 'web2'], [], {}],
    ],
  );
  assert.deepEqual(out.allVars, { env: 'prod' });
  assert.equal(out.hostvars, undefined, 'no _meta: each host is asked with --host');
});

test('_meta without hostvars means --host calls, as in Ansible; hostvars of hosts no group lists are ignored', () => {
  assert.equal(readCommandOutput('{"web": ["a"], "_meta": {}}', MAX).hostvars, undefined);
  const out = readCommandOutput(
    '{"web": ["a"], "_meta": {"hostvars": {"a": {"x": 1}, "ghost": {"y": 2}}}}',
    MAX,
  );
  assert.deepEqual([...out.hostvars!], [['a', { x: 1 }]]);
  assert.deepEqual(out.hosts, ['a']);
});

test('output fleetsh cannot use says what and where', () => {
  const bad = (json: string, re: RegExp) => assert.throws(() => readCommandOutput(json, MAX), re);
  bad('{"web": {"hosts": ["a"]', /not valid JSON .*; it starts: "\{\\"web\\"/);
  bad('{"web": {"hosts": "a"}}', /group "web": hosts: expected a list of names, got "a"/);
  bad('{"web": {"hosts": [1]}}', /group "web": hosts: expected names, got 1/);
  bad('{"web": {"hosts": ["a"], "vars": [1]}}', /group "web": vars: expected an object, got a list/);
  bad('{"web": {"hosts": ["a b"]}}', /host "a b": a host name may hold only letters, digits.*ansible_host/);
  bad('{"web": {"hosts": ["../x"]}}', /host "\.\.\/x"/);
  bad('{"web server": ["a"]}', /group "web server": a group name may hold only/);
  bad('{"web": ["a"], "_meta": {"hostvars": {"a": "x"}}}', /_meta.hostvars.a: expected an object, got "x"/);
  bad('{"web": ["a"], "_meta": []}', /_meta: expected an object, got a list/);
  assert.deepEqual(readHostVars('{"x": 1}'), { x: 1 });
  assert.deepEqual(readHostVars('\n'), {}, 'a host without vars may print nothing');
  assert.throws(() => readHostVars('[1]'), /not a JSON object of variables, got a list/);
});

function settings(vars: Record<string, unknown>) {
  const notes: VarNote[] = [];
  const layer = settingsOfVars(vars, '/inventory', (n) => notes.push(n));
  return { layer, notes };
}

test("Ansible's connection variables become settings; a relative key starts at the inventory's folder", () => {
  const { layer, notes } = settings({
    ansible_host: '10.0.0.5',
    ansible_port: '2222',
    ansible_user: 'deploy',
    ansible_ssh_private_key_file: 'keys/web',
    ansible_ssh_common_args: '-o StrictHostKeyChecking=no -J ops@bastion:2200',
    region: 'eu',
    replicas: 3,
  });
  assert.deepEqual(layer, {
    address: '10.0.0.5',
    port: 2222,
    user: 'deploy',
    identity: '/inventory/keys/web',
    jump: 'ops@bastion:2200',
    hostKeyPolicy: 'off',
    vars: { region: 'eu', replicas: 3 },
  });
  assert.deepEqual(notes, []);
  assert.equal(settings({ ansible_ssh_private_key_file: '~/.ssh/k' }).layer.identity, `${homedir()}/.ssh/k`);
  assert.equal(settings({ ansible_ssh_private_key_file: '/keys/k' }).layer.identity, '/keys/k');
  // The older names, which Ansible still reads.
  assert.deepEqual(settings({ ansible_ssh_host: 'h', ansible_ssh_port: 22, ansible_ssh_user: 'u' }).layer, {
    address: 'h',
    port: 22,
    user: 'u',
  });
});

test("Ansible's other variables are dropped, secrets by name only; names that cannot be env names are noted", () => {
  const { layer, notes } = settings({
    ansible_python_interpreter: '/usr/bin/python3',
    ansible_become_pass: 'hunter2',
    ansible_password: 's3cret',
    ansible_connection: 'local',
    'ec2_tag_aws:stack': 'x',
    'bad-name': 1,
    http_port: 80,
  });
  assert.deepEqual(layer, { vars: { http_port: 80 } });
  assert.deepEqual(notes, [
    { item: '"ec2_tag_aws:stack"', kind: 'not-env-name' },
    { item: '"bad-name"', kind: 'not-env-name' },
    { item: 'ansible_connection="local"', kind: 'connection' },
    { item: 'ansible_password', kind: 'password' },
  ]);
  assert.doesNotMatch(JSON.stringify(notes), /s3cret|hunter2/);
  assert.deepEqual(settings({ ansible_connection: 'ssh' }).notes, []);
});

test('common ssh arguments set at a level replace the wider ones: without -J, no jump host', () => {
  assert.deepEqual(settings({ ansible_ssh_common_args: '-o ServerAliveInterval=30' }), {
    layer: { jump: null },
    notes: [{ item: '-o ServerAliveInterval=30', kind: 'ssh-arg' }],
  });
  // Extra arguments add to the common ones: they set a jump host only if they name one.
  assert.deepEqual(settings({ ansible_ssh_extra_args: '-o ConnectTimeout=5' }).layer, {
    connectTimeout: 5000,
  });
  assert.deepEqual(settings({ ansible_ssh_extra_args: '-J b' }).layer, { jump: 'b' });
});

test('a connection variable with a wrong value is refused by name', () => {
  const bad = (vars: Record<string, unknown>, re: RegExp) => assert.throws(() => settings(vars), re);
  bad({ ansible_port: 'ssh' }, /^Error: ansible_port: expected a port from 1 to 65535, got "ssh"/);
  bad({ ansible_port: 70000 }, /ansible_port: expected a port from 1 to 65535, got 70000/);
  bad({ ansible_host: '' }, /ansible_host: expected a name without spaces, got ""/);
  bad({ ansible_host: 'a b' }, /ansible_host: expected a name without spaces/);
  bad({ ansible_user: ['root'] }, /ansible_user: expected a name without spaces, got \["root"\]/);
  bad({ ansible_ssh_private_key_file: 3 }, /ansible_ssh_private_key_file: expected a path, got 3/);
  bad(
    { ansible_ssh_common_args: "-o 'ProxyJump=x" },
    /ansible_ssh_common_args: a quote \(\'\) is not closed/,
  );
  bad({ ansible_ssh_common_args: '-J' }, /ansible_ssh_common_args: -J needs a value/);
});
