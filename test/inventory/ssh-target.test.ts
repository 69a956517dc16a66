// An inventory host as SSH target options: each setting under the name `$.ssh` takes, the vars as
// the environment of every command (other values than text as JSON), and names that cannot be
// environment variables refused for the hosts that have them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInventory } from '../../src/inventory/index.js';
import { UsageError } from '../../src/process/errors.js';
import { validateTargetOptions } from '../../src/ssh/target-options.js';

const INVENTORY = `
defaults: { user: deploy, vars: { region: eu, replicas: 3, canary: false, zones: [a, b], limits: { cpu: 2 }, none: null } }
hosts:
  db1: { port: 2222, identity: /keys/db, jump: 'ops@bastion:2200', hostKeyPolicy: accept-new, connectTimeout: 1500ms, vars: { role: primary } }
  plain: { vars: {} }
groups:
  web: { hosts: 'web[1-2]', user: www, vars: { tier: web } }
  odd: { hosts: odd1, vars: { 'bad-name': x } }
`;

test('every setting under the name $.ssh takes; vars as the environment, other values than text as JSON', () => {
  const inv = parseInventory(INVENTORY);
  assert.deepEqual(inv.targetFor('db1'), {
    host: 'db1',
    name: 'db1',
    username: 'deploy',
    port: 2222,
    privateKey: '/keys/db',
    jump: 'ops@bastion:2200',
    hostKeyPolicy: 'accept-new',
    connectTimeout: 1500,
    env: {
      region: 'eu',
      replicas: '3',
      canary: 'false',
      zones: '["a","b"]',
      limits: '{"cpu":2}',
      none: 'null',
      role: 'primary',
    },
  });
  const web1 = inv.targetFor('web1');
  assert.equal(web1.username, 'www');
  assert.equal(web1.env?.tier, 'web');
  assert.equal('port' in web1, false, 'unset settings are left to ssh_config');
  // A host the inventory does not name still gets the defaults, as the CLI gives them.
  assert.equal(inv.targetFor('elsewhere').username, 'deploy');
});

test('a host without settings or vars is just its name', () => {
  const inv = parseInventory("groups:\n  web: 'web[1-2]'\n");
  assert.deepEqual(inv.targetFor('web1'), { host: 'web1', name: 'web1' });
});

test("the target is valid $.ssh options: each name is one of the SSH layer's", () => {
  const inv = parseInventory(INVENTORY);
  const { name: _name, env: _env, ...options } = inv.targetFor('db1');
  const x = validateTargetOptions(options, '/home/someone', '/work');
  assert.equal(x.user, 'deploy');
  assert.equal(x.port, 2222);
  assert.deepEqual(x.privateKey, { path: '/keys/db' });
  assert.deepEqual(x.jump, ['ops@bastion:2200']);
  assert.equal(x.hostKeyPolicy, 'accept-new');
  assert.equal(x.connectTimeoutMs, 1500);
  assert.equal(x.label, 'db1:2222');
});

test('a var that cannot be an environment variable is a UsageError for the hosts that have it', () => {
  const inv = parseInventory(INVENTORY);
  assert.throws(
    () => inv.targetFor('odd1'),
    (e: unknown) =>
      e instanceof UsageError &&
      e.host === 'odd1' &&
      e.message ===
        'odd1: inventory variable "bad-name" cannot be an environment variable name; ' +
          'use letters, digits and _ (not starting with a digit)',
  );
  assert.doesNotThrow(() => inv.targetFor('web1'));
});
