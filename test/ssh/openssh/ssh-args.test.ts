// The system ssh's arguments for a target: only what fleetsh must say (the options the user gave,
// BatchMode, timeouts, the host key policy as the ssh2 transport means it), and a clear refusal
// of what ssh could only ask for on a terminal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../../src/process/errors.js';
import { resolveTarget } from '../../../src/ssh/resolve.js';
import { commandArgs, configWord, connectionArgs, masterArgs } from '../../../src/ssh/openssh/ssh-args.js';
import type { SshTargetOptions } from '../../../src/ssh/types.js';

const where = { homedir: '/home/u', cwd: '/work' };
const context = { homedir: '/home/u', env: {}, systemConfigFile: false as const, globalKnownHostsFiles: [] };

async function argsOf(options: SshTargetOptions): Promise<string[]> {
  // Resolved without reading a config file (the one named need not exist for its arguments).
  return connectionArgs(options, await resolveTarget({ ...options, sshConfig: false }, context), where);
}

test('a bare host: BatchMode, the resolved timeouts and keepalive, no forwarding; ssh reads ssh_config itself', async () => {
  assert.deepEqual(await argsOf({ host: 'web1', sshConfig: false }), [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'ClearAllForwardings=yes',
  ]);
});

test('explicit options become ssh options; paths are made absolute; the policy maps as the ssh2 transport means it', async () => {
  const args = await argsOf({
    host: 'deploy@web1:2222',
    sshConfig: 'cfg/ssh_config',
    privateKey: '~/.ssh/id_ed25519',
    agent: false,
    identitiesOnly: true,
    hostKeyAlias: 'web',
    jump: ['bastion', { host: 'inner', username: 'ops', port: 2200 }],
    knownHosts: ['/k/known hosts'],
    hostKeyPolicy: 'accept-new',
    connectTimeout: '2500ms',
    keepaliveInterval: 0,
  });
  const joined = args.join(' ');
  for (const part of [
    '-F /work/cfg/ssh_config',
    '-l deploy',
    '-p 2222',
    '-o IdentityFile=/home/u/.ssh/id_ed25519',
    '-o IdentityAgent=none',
    '-o IdentitiesOnly=yes',
    '-o HostKeyAlias=web',
    '-J bastion,ops@inner:2200',
    '-o UserKnownHostsFile="/k/known hosts"',
    '-o StrictHostKeyChecking=accept-new',
    '-o ConnectTimeout=3',
    '-o ServerAliveInterval=0',
  ])
    assert.ok(joined.includes(part), `${part} in ${joined}`);
  const off = (await argsOf({ host: 'web1', knownHosts: '/k/kh', hostKeyPolicy: 'off' })).join(' ');
  assert.ok(off.includes('-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'), off);
  assert.ok(!off.includes('/k/kh'), 'nothing is read or recorded under off');
});

test('a password, a passphrase or a key given inline are refused; so is a jump host with other settings', async () => {
  for (const [extra, match] of [
    [{ password: 'secret' }, /a password/],
    [{ passphrase: 'secret' }, /passphrase/],
    [{ privateKey: Buffer.from('-----BEGIN x') }, /inline/],
    [{ jump: [{ host: 'b', privateKey: '/k' }] }, /jump host as user@host:port/],
  ] as const) {
    await assert.rejects(
      argsOf({ host: 'web1', ...(extra as Partial<SshTargetOptions>) }),
      (e: UsageError) => {
        assert.ok(e instanceof UsageError);
        assert.match(e.message, match);
        assert.ok(!e.message.includes('secret'), 'no secret in the message');
        return true;
      },
    );
  }
});

test('the master and a command over it', () => {
  assert.deepEqual(masterArgs(['-o', 'BatchMode=yes'], '/tmp/fsh-x/s', 60, 'web1'), [
    '-o',
    'BatchMode=yes',
    '-S',
    '/tmp/fsh-x/s',
    '-o',
    'ControlMaster=yes',
    '-o',
    'ControlPersist=60',
    '-N',
    '--',
    'web1',
  ]);
  const c = commandArgs([], '/s', 'web1', 'echo hi', true);
  assert.deepEqual(c.slice(-4), ['-tt', '--', 'web1', 'echo hi']);
  assert.ok(
    c.join(' ').includes('-o ControlMaster=no -o LogLevel=ERROR -o EscapeChar=none -o RemoteCommand=none'),
  );
  assert.equal(commandArgs([], '/s', 'web1', 'x', false).at(-4), '-T');
});

test('a path reaches ssh as written: % doubled (ssh expands its tokens), quotes and backslashes escaped; ${ and line breaks refused', async () => {
  // ssh splits an -o value as a config line, then expands %d, %h, ~ and ${VAR} in these paths.
  assert.equal(configWord('/k/100%d', 'privateKey', 'web1'), '/k/100%%d');
  assert.equal(configWord('/k/a b', 'privateKey', 'web1'), '"/k/a b"');
  assert.equal(configWord('/k/"q"\\x #1', 'privateKey', 'web1'), '"/k/\\"q\\"\\\\x #1"');
  const args = (
    await argsOf({
      host: 'web1',
      privateKey: '/keys/%h key',
      knownHosts: ['/kh/50%'],
      agent: '/run/%u/agent',
    })
  ).join(' ');
  assert.ok(args.includes('-o IdentityFile="/keys/%%h key"'), args);
  assert.ok(!args.includes('-i '), 'not -i: ssh checks its file before expanding tokens');
  assert.ok(args.includes('-o UserKnownHostsFile=/kh/50%%'), args);
  assert.ok(args.includes('-o IdentityAgent=/run/%%u/agent'), args);
  // HostKeyAlias has no tokens; its quote is escaped (ssh said "invalid quotes").
  const alias = (await argsOf({ host: 'web1', hostKeyAlias: 'web"1%h' })).join(' ');
  assert.ok(alias.includes('-o HostKeyAlias="web\\"1%h"'), alias);
  for (const [path, what] of [
    ['/k/${HOME}/id', /environment variable/],
    ['/k/a\nProxyCommand x', /line break/],
  ] as const) {
    await assert.rejects(argsOf({ host: 'web1', privateKey: path }), (e: UsageError) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, /^web1: option privateKey: the OpenSSH transport cannot pass a path/);
      assert.match(e.message, what);
      return true;
    });
  }
});

test('a user name with a character a shell reads is refused, for the target and its jump hosts (ssh may run it in a ProxyCommand)', async () => {
  for (const options of [
    { host: 'u$(id)@web1' },
    { host: 'web1', username: 'a;b' },
    { host: 'web1', jump: 'x`id`@bastion' },
    { host: 'web1', jump: [{ host: 'bastion', user: 'u|v' }] },
  ] as SshTargetOptions[]) {
    await assert.rejects(argsOf(options), (e: UsageError) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(
        e.message,
        /^web1: the OpenSSH transport cannot log in as ".*": ssh may hand a user name to a shell/,
      );
      return true;
    });
  }
  const ok = (await argsOf({ host: 'dom.user@web1', jump: 'ops+x@bastion' })).join(' ');
  assert.ok(ok.includes('-l dom.user') && ok.includes('-J ops+x@bastion'), ok);
});
