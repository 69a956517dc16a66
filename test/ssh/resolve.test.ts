import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ConnectionError, UsageError } from '../../src/process/errors.js';
import { parseDuration } from '../../src/process/duration.js';
import { resolveTarget, type ResolveContext } from '../../src/ssh/resolve.js';
import { parseTargetString } from '../../src/ssh/target-options.js';
import { matchPattern, matchPatternList } from '../../src/ssh/ssh-config.js';
import type { ResolvedTarget } from '../../src/ssh/types.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetsh-resolve-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const home = path.join(dir, 'home');
mkdirSync(path.join(home, '.ssh'), { recursive: true });
const ctx: ResolveContext = {
  homedir: home,
  localUser: 'localme',
  env: { SSH_AUTH_SOCK: '/run/agent.sock', KEYDIR: '/keys' },
  systemConfigFile: false,
  globalKnownHostsFiles: ['/etc/ssh/ssh_known_hosts'],
};

function config(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** OpenSSH's own resolution: `ssh -G` (it reads only the -F file; ~ is the passwd home). */
function sshG(file: string, host: string): Map<string, string[]> {
  const out = execFileSync('ssh', ['-G', '-F', file, host], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const map = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0) map.set(line.slice(0, i), [...(map.get(line.slice(0, i)) ?? []), line.slice(i + 1)]);
  }
  return map;
}

/** Resolution as ssh -G sees it: the real home and user, no system config. */
const asOpenSsh: ResolveContext = {
  systemConfigFile: false,
  homedir: os.userInfo().homedir,
  localUser: os.userInfo().username,
};

async function assertSameAsOpenSsh(file: string, host: string): Promise<ResolvedTarget> {
  const ours = await resolveTarget({ host, sshConfig: file }, asOpenSsh);
  const theirs = sshG(file, host);
  assert.deepEqual(
    { user: ours.user, hostname: ours.hostname, port: String(ours.port) },
    { user: theirs.get('user')?.[0], hostname: theirs.get('hostname')?.[0], port: theirs.get('port')?.[0] },
    `resolution of ${host} differs from ssh -G`,
  );
  return ours;
}

describe('ssh_config patterns', () => {
  test('match_pattern: * is any run, ? exactly one character, case-sensitive', () => {
    assert.ok(matchPattern('web1', 'web?'));
    assert.ok(!matchPattern('web', 'web?'));
    assert.ok(!matchPattern('web12', 'web?'));
    assert.ok(matchPattern('a.b.example.com', '*.example.com'));
    assert.ok(matchPattern('', '*'));
    assert.ok(!matchPattern('WEB1', 'web?'));
    assert.ok(matchPattern('x[1]', 'x[1]'), 'brackets are literal');
    assert.equal(matchPatternList('evil.example.com', '*.example.com,!evil.*'), -1);
    assert.equal(matchPatternList('good.example.com', '*.example.com,!evil.*'), 1);
    assert.equal(matchPatternList('other', '!evil'), 0, 'a negation alone never matches');
  });

  const file = config(
    'patterns.conf',
    `# Host lines take space-separated patterns; commas are literal there
Host *.prod !db?.prod
  User produser
Host web?
  Port 2201
Host web1 web2
  HostName %h.example.com
  User webuser
Host a,b
  User commauser
Host *
  User fallback
  Port 2200
`,
  );

  for (const host of [
    'web1',
    'web2',
    'webx',
    'web12',
    'app.prod',
    'db1.prod',
    'db12.prod',
    'a',
    'b',
    'WEB1',
  ]) {
    test(`${host} resolves as ssh -G does`, async () => {
      await assertSameAsOpenSsh(file, host);
    });
  }

  test('first obtained value wins, and HostName expands %h and is lowercased', async () => {
    const r = await resolveTarget({ host: 'web1', sshConfig: file }, ctx);
    assert.equal(r.user, 'webuser');
    assert.equal(r.port, 2201);
    assert.equal(r.hostname, 'web1.example.com');
    const negated = await resolveTarget({ host: 'db1.prod', sshConfig: file }, ctx);
    assert.equal(negated.user, 'fallback');
  });
});

describe('Match and Include', () => {
  const included = path.join(dir, 'inc');
  mkdirSync(included);
  writeFileSync(path.join(included, 'a.conf'), 'Host incl*\n  User from-include\n  Port 3333\n');
  writeFileSync(path.join(included, 'b.conf'), 'Host incl2\n  User from-b\n');
  const file = config(
    'match.conf',
    `Host incl1
  Include ${included}/*.conf
Host fin
  HostName final.example.com
Match final host final.example.com
  User finaluser
Host final.example.com
  Port 2444
Match host fin
  Port 1111
Host bob-*
  HostName %h.internal
Match host *.internal user bob
  Port 2222
Match originalhost orig
  User origuser
Host *
  User u-default
`,
  );
  for (const host of ['incl1', 'incl2', 'fin', 'bob@bob-1', 'alice@bob-1', 'orig']) {
    test(`${host} resolves as ssh -G does`, async () => {
      await assertSameAsOpenSsh(file, host);
    });
  }

  test('Match exec is never run and counts as not matching', async () => {
    const marker = path.join(dir, 'exec-ran');
    const f = config('exec.conf', `Match exec "touch ${marker}"\n  User execuser\nHost *\n  User other\n`);
    const r = await resolveTarget({ host: 'x', sshConfig: f }, ctx);
    assert.equal(r.user, 'other');
    assert.throws(() => execFileSync('test', ['-e', marker]));
  });

  test('relative Include paths are in ~/.ssh', async () => {
    mkdirSync(path.join(home, '.ssh', 'conf.d'), { recursive: true });
    writeFileSync(path.join(home, '.ssh', 'conf.d', 'x.conf'), 'Host relinc\n  User rel\n');
    const f = config('relinc.conf', 'Include conf.d/*.conf\n');
    assert.equal((await resolveTarget({ host: 'relinc', sshConfig: f }, ctx)).user, 'rel');
  });
});

describe('tokens and identity files', () => {
  const file = config(
    'tokens.conf',
    `Host tok
  HostName Tok.Example.COM
  User alice
  Port 2022
  IdentityFile ~/keys/%r@%h:%p
  IdentityFile %d/other_%u_%%
  IdentityFile \${KEYDIR}/%n
  UserKnownHostsFile ~/kh/%h %d/kh2
  GlobalKnownHostsFile /global/kh
Host *
  IdentityFile /abs/common
  IdentityFile ~/keys/alice@tok.example.com:2022
`,
  );

  test('IdentityFile keeps order, expands ~ %r %h %p %d %u %n %% and ${VAR}, and drops duplicates', async () => {
    const r = await resolveTarget({ host: 'tok', sshConfig: file }, ctx);
    assert.deepEqual(
      r.identities.map((i) => [i.path, i.origin]),
      [
        [`${home}/keys/alice@tok.example.com:2022`, 'config'],
        [`${home}/other_localme_%`, 'config'],
        ['/keys/tok', 'config'],
        ['/abs/common', 'config'],
      ],
    );
    assert.match(r.identities[0]!.label, /IdentityFile in .*tokens\.conf/);
    assert.deepEqual(r.userKnownHostsFiles, [`${home}/kh/tok.example.com`, `${home}/kh2`]);
    assert.deepEqual(r.knownHostsFiles, [`${home}/kh/tok.example.com`, `${home}/kh2`, '/global/kh']);
    assert.equal(r.knownHostsName, '[tok.example.com]:2022');
  });

  test('the privateKey option comes first; a key text is kept inline and out of JSON', async () => {
    const byPath = await resolveTarget({ host: 'tok', sshConfig: file, privateKey: '~/mykey' }, ctx);
    assert.deepEqual(byPath.identities[0], {
      path: `${home}/mykey`,
      origin: 'option',
      label: `${home}/mykey (privateKey option)`,
    });
    assert.equal(byPath.identities.length, 5);
    const text = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
    const inline = await resolveTarget({ host: 'tok', sshConfig: file, privateKey: text }, ctx);
    assert.equal(inline.identities[0]!.path, undefined);
    assert.equal(inline.identities[0]!.key?.toString(), text);
    assert.ok(!JSON.stringify(inline).includes('BEGIN'));
    assert.ok(!inline.poolKey.includes('BEGIN'));
  });

  test('an unknown token is a config error naming the file', async () => {
    const f = config('badtoken.conf', 'Host *\n  IdentityFile ~/.ssh/%Q\n');
    await assert.rejects(resolveTarget({ host: 'x', sshConfig: f }, ctx), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.kind, 'config');
      assert.match(e.message, /badtoken\.conf/);
      assert.match(e.message, /%Q/);
      return true;
    });
  });
});

describe('ProxyJump', () => {
  const file = config(
    'jump.conf',
    `Host target
  HostName 10.0.0.5
  ProxyJump jumpuser@hop1:2201,hop2
Host hop1
  HostName hop1.example.com
  IdentityFile /keys/hop1
Host hop2
  HostName hop2.internal
  User hop2user
  ProxyJump ignored-for-a-later-hop
Host hop1
  ProxyJump hop0
Host hop0
  HostName hop0.example.com
  ProxyJump none
Host direct
  ProxyJump none
Host loopa
  ProxyJump loopb
Host loopb
  ProxyJump loopa
Host cmd
  ProxyCommand ssh -W %h:%p gateway
Host bastion
  ProxyJump none
Host *
  ProxyJump bastion
`,
  );

  test('multi-hop chains resolve each hop through ssh_config, as ssh -J does', async () => {
    const r = await resolveTarget({ host: 'target', sshConfig: file }, ctx);
    assert.deepEqual(
      r.jump.map((h) => [h.user, h.hostname, h.port]),
      [
        ['localme', 'hop0.example.com', 22],
        ['jumpuser', 'hop1.example.com', 2201],
        ['hop2user', 'hop2.internal', 22],
      ],
    );
    const [hop0, hop1, hop2] = r.jump;
    assert.deepEqual(
      hop1!.identities.map((i) => i.path),
      ['/keys/hop1'],
    );
    assert.deepEqual(hop2!.jump, [hop0, hop1], 'a hop carries the chain that reaches it');
    assert.deepEqual(hop1!.jump, [hop0]);
    assert.ok(r.poolKey.includes(hop2!.poolKey), 'the pool key includes the jump chain');
    assert.notEqual(hop2!.poolKey, (await resolveTarget({ host: 'hop2', sshConfig: file }, ctx)).poolKey);
  });

  test('ProxyJump none disables a later ProxyJump; the jump option overrides ssh_config', async () => {
    assert.deepEqual((await resolveTarget({ host: 'direct', sshConfig: file }, ctx)).jump, []);
    const other = await resolveTarget({ host: 'somehost', sshConfig: file }, ctx);
    assert.deepEqual(
      other.jump.map((h) => h.host),
      ['bastion'],
    );
    const explicit = await resolveTarget({ host: 'target', sshConfig: file, jump: 'ops@gw:2022' }, ctx);
    // gw is itself reached through its own ProxyJump (Host *), as `ssh -J ops@gw:2022 target` does.
    assert.deepEqual(
      explicit.jump.map((h) => [h.user, h.host, h.port]),
      [
        ['localme', 'bastion', 22],
        ['ops', 'gw', 2022],
      ],
    );
    const none = await resolveTarget({ host: 'target', sshConfig: file, jump: [] }, ctx);
    assert.deepEqual(none.jump, []);
    const objects = await resolveTarget(
      {
        host: 'target',
        sshConfig: file,
        via: [{ host: 'gw1', username: 'u1' }, 'gw2'],
        knownHosts: '/tmp/kh',
      },
      ctx,
    );
    assert.deepEqual(
      objects.jump.map((h) => [h.user, h.host]),
      [
        ['localme', 'bastion'],
        ['u1', 'gw1'],
        ['localme', 'gw2'],
      ],
    );
    assert.deepEqual(objects.jump[1]!.userKnownHostsFiles, ['/tmp/kh'], 'hops inherit knownHosts');
  });

  test('a ProxyJump loop is a config error', async () => {
    await assert.rejects(resolveTarget({ host: 'loopa', sshConfig: file }, ctx), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.kind, 'config');
      assert.match(e.message, /loopa -> loopb -> loopa/);
      return true;
    });
  });

  test('ProxyCommand is passed on with its tokens expanded', async () => {
    const r = await resolveTarget({ host: 'cmd', sshConfig: file }, ctx);
    assert.equal(r.proxyCommand, 'ssh -W cmd:22 gateway');
    assert.deepEqual(r.jump, []);
  });
});

describe('defaults and the config file', () => {
  test('defaults: local user, port 22, agent from SSH_AUTH_SOCK, default keys that exist (OpenSSH order)', async () => {
    const h = path.join(dir, 'home-defaults');
    mkdirSync(path.join(h, '.ssh'), { recursive: true });
    writeFileSync(path.join(h, '.ssh', 'id_ed25519'), 'x');
    writeFileSync(path.join(h, '.ssh', 'id_rsa'), 'x');
    const r = await resolveTarget('server1', { ...ctx, homedir: h });
    assert.equal(r.user, 'localme');
    assert.equal(r.port, 22);
    assert.equal(r.hostname, 'server1');
    assert.equal(r.label, 'server1');
    assert.equal(r.agent, '/run/agent.sock');
    assert.deepEqual(
      r.identities.map((i) => [i.path, i.origin]),
      [
        [path.join(h, '.ssh', 'id_rsa'), 'default'],
        [path.join(h, '.ssh', 'id_ed25519'), 'default'],
      ],
    );
    assert.deepEqual(r.knownHostsFiles, [
      path.join(h, '.ssh', 'known_hosts'),
      path.join(h, '.ssh', 'known_hosts2'),
      '/etc/ssh/ssh_known_hosts',
    ]);
    assert.equal(r.hostKeyPolicy, 'strict');
    assert.equal(r.connectTimeoutMs, 10_000);
    assert.equal(r.keepaliveIntervalMs, 15_000);
    assert.equal(r.identitiesOnly, false);
    assert.deepEqual(r.jump, []);
    assert.deepEqual(r.configFiles, [], 'a missing ~/.ssh/config is fine');
    assert.equal(
      (await resolveTarget({ host: 'server1', agent: false }, { ...ctx, homedir: h })).agent,
      undefined,
    );
  });

  test('~/.ssh/config is read by default; sshConfig false ignores it; sshConfig names another file', async () => {
    const h = path.join(dir, 'home-config');
    mkdirSync(path.join(h, '.ssh'), { recursive: true });
    writeFileSync(path.join(h, '.ssh', 'config'), 'Host *\n  User fromconfig\n  IdentityFile /k/cfg\n');
    const withConfig = await resolveTarget('s', { ...ctx, homedir: h });
    assert.equal(withConfig.user, 'fromconfig');
    assert.deepEqual(withConfig.configFiles, [path.join(h, '.ssh', 'config')]);
    const without = await resolveTarget({ host: 's', sshConfig: false }, { ...ctx, homedir: h });
    assert.equal(without.user, 'localme');
    assert.deepEqual(without.identities, []);
    const other = await resolveTarget(
      { host: 's', sshConfig: config('other.conf', 'User otheruser\n') },
      { ...ctx, homedir: h },
    );
    assert.equal(other.user, 'otheruser');
  });

  test('settings from ssh_config, and explicit options over them', async () => {
    const file = config(
      'settings.conf',
      `Host strict
  StrictHostKeyChecking yes
Host ask
  StrictHostKeyChecking ask
Host new
  StrictHostKeyChecking accept-new
Host off
  StrictHostKeyChecking no
Host *
  User cfguser
  Port 2200
  ConnectTimeout 7
  ServerAliveInterval 1m30s
  ServerAliveCountMax 5
  IdentitiesOnly yes
  HostKeyAlias alias-%h
  HashKnownHosts yes
  UserKnownHostsFile none
  IdentityAgent none
`,
    );
    const policy = async (host: string) =>
      (await resolveTarget({ host, sshConfig: file }, ctx)).hostKeyPolicy;
    assert.deepEqual(
      [await policy('strict'), await policy('ask'), await policy('new'), await policy('off')],
      ['strict', 'strict', 'accept-new', 'off'],
    );
    const r = await resolveTarget({ host: 'x', sshConfig: file }, ctx);
    assert.equal(r.connectTimeoutMs, 7000);
    assert.equal(r.keepaliveIntervalMs, 90_000);
    assert.equal(r.keepaliveCountMax, 5);
    assert.equal(r.identitiesOnly, true);
    assert.equal(r.hostKeyAlias, 'alias-%h', 'HostKeyAlias takes no tokens (OpenSSH 9.2)');
    assert.equal(r.knownHostsName, 'alias-%h');
    assert.equal(r.hashKnownHosts, true);
    assert.deepEqual(r.userKnownHostsFiles, []);
    assert.equal(r.agent, undefined);
    const explicit = await resolveTarget(
      {
        host: 'x',
        sshConfig: file,
        username: 'me',
        port: 2022,
        connectTimeout: '2s',
        keepaliveInterval: 0,
        hostKeyPolicy: 'off',
        identitiesOnly: false,
        hostKeyAlias: 'mine',
        knownHosts: ['~/kh'],
        agent: '/tmp/a.sock',
        maxSessions: 4,
      },
      ctx,
    );
    assert.deepEqual(
      [
        explicit.user,
        explicit.port,
        explicit.connectTimeoutMs,
        explicit.keepaliveIntervalMs,
        explicit.hostKeyPolicy,
      ],
      ['me', 2022, 2000, 0, 'off'],
    );
    assert.deepEqual(
      [explicit.identitiesOnly, explicit.hostKeyAlias, explicit.agent, explicit.maxSessions],
      [false, 'mine', '/tmp/a.sock', 4],
    );
    assert.deepEqual(explicit.userKnownHostsFiles, [`${home}/kh`]);
    assert.equal(explicit.label, 'x:2022');
  });

  test('a missing named file, a directory or an unparsable file is a config error naming it', async () => {
    const cases = [path.join(dir, 'nope.conf'), dir, config('broken.conf', 'Host "unterminated\n  User x\n')];
    for (const file of cases) {
      await assert.rejects(resolveTarget({ host: 'x', sshConfig: file }, ctx), (e: unknown) => {
        assert.ok(e instanceof ConnectionError, String(e));
        assert.equal(e.kind, 'config');
        assert.ok(e.message.includes(file), e.message);
        return true;
      });
    }
    const badPort = config('badport.conf', 'Host *\n  Port http\n');
    await assert.rejects(
      resolveTarget({ host: 'x', sshConfig: badPort }, ctx),
      /badport\.conf:2: Port: "http" is not a port/,
    );
  });
});

describe('targets and validation', () => {
  test('string targets', () => {
    const cases: Array<[string, ReturnType<typeof parseTargetString>]> = [
      ['host', { host: 'host' }],
      ['user@host', { user: 'user', host: 'host' }],
      ['user@host:2222', { user: 'user', host: 'host', port: 2222 }],
      ['[::1]:2222', { host: '::1', port: 2222 }],
      ['::1', { host: '::1' }],
      ['deploy@[fe80::1%eth0]', { user: 'deploy', host: 'fe80::1%eth0' }],
      ['ssh://user@host:2222', { user: 'user', host: 'host', port: 2222 }],
      ['ssh://host/', { host: 'host' }],
      ['a@b@host', { user: 'a@b', host: 'host' }],
    ];
    for (const [text, expected] of cases) assert.deepEqual(parseTargetString(text), expected, text);
    for (const bad of [
      '',
      'host:0',
      'host:65536',
      'host:ssh',
      '-oProxyCommand=x',
      'a b',
      '[::1',
      '@host',
      'ssh://h/path',
      'h;rm',
    ]) {
      assert.throws(() => parseTargetString(bad), UsageError, bad);
    }
  });

  test('string and object targets resolve alike; the label keeps an explicit port', async () => {
    const a = await resolveTarget('deploy@web1:2222', { ...ctx, homedir: dir });
    const b = await resolveTarget({ host: 'web1', username: 'deploy', port: 2222 }, { ...ctx, homedir: dir });
    const c = await resolveTarget({ host: 'web1', user: 'deploy', port: 2222 }, { ...ctx, homedir: dir });
    assert.equal(a.poolKey, b.poolKey);
    assert.equal(b.poolKey, c.poolKey);
    assert.equal(a.label, 'web1:2222');
    assert.equal((await resolveTarget('[::1]:2200', ctx)).label, '[::1]:2200');
    assert.equal((await resolveTarget('web1:22', ctx)).label, 'web1');
  });

  const invalid: Array<[Record<string, unknown>, RegExp]> = [
    [{ port: 'abc' }, /web1: option port must be an integer from 1 to 65535, got "abc"/],
    [{ port: 0 }, /option port/],
    [{ port: 70000 }, /option port/],
    [{ host: 'web1:2222', port: 22 }, /option port \(22\) contradicts/],
    [
      { hostKeyPolicy: 'yes' },
      /web1: option hostKeyPolicy must be 'strict', 'accept-new' or 'off', got "yes"/,
    ],
    [{ connectTimeout: '10 parsecs' }, /web1: option connectTimeout "10 parsecs" is not a duration/],
    [{ connectTimeout: '10' }, /option connectTimeout "10" needs a unit/],
    [{ connectTimeout: -1 }, /option connectTimeout/],
    [{ keepaliveInterval: 'soon' }, /option keepaliveInterval/],
    [{ privatekey: '/k' }, /option privatekey is not an option; did you mean privateKey\?/],
    [{ username: 'a', user: 'b' }, /option user \("b"\) contradicts username "a"/],
    [{ agent: true }, /option agent/],
    [{ jump: 42 }, /option jump must be a host/],
    [{ sshConfig: true }, /option sshConfig/],
    [{ maxSessions: 0 }, /option maxSessions/],
    [{ knownHosts: [1] }, /option knownHosts/],
  ];
  for (const [options, message] of invalid) {
    test(`rejects ${JSON.stringify(options)} naming the option and host`, async () => {
      await assert.rejects(resolveTarget({ host: 'web1', ...options } as never, ctx), (e: unknown) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.match(e.message, message);
        assert.match(e.message, /web1/);
        return true;
      });
    });
  }

  test('a bad secret is reported without its value', async () => {
    await assert.rejects(resolveTarget({ host: 'web1', password: 12345 as never }, ctx), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /web1: option password must be a string/);
      assert.ok(!e.message.includes('12345'));
      return true;
    });
  });

  test('durations', () => {
    assert.equal(parseDuration(1500, 'x'), 1500);
    assert.equal(parseDuration('10s', 'x'), 10_000);
    assert.equal(parseDuration('500ms', 'x'), 500);
    assert.equal(parseDuration('1.5s', 'x'), 1500);
    assert.equal(parseDuration('2m', 'x'), 120_000);
    assert.equal(parseDuration('1h30m', 'x'), 5_400_000);
  });

  test('secrets are not enumerable, not in the pool key, but tell pool keys apart', async () => {
    const a = await resolveTarget(
      { host: 'web1', password: 'hunter2', passphrase: 'pp-secret', sudoPassword: 's3' },
      ctx,
    );
    assert.equal(a.password, 'hunter2');
    assert.equal(a.passphrase, 'pp-secret');
    assert.equal(a.sudoPassword, 's3');
    const json = JSON.stringify(a);
    for (const secret of ['hunter2', 'pp-secret', 's3"']) assert.ok(!json.includes(secret), secret);
    assert.ok(!a.poolKey.includes('hunter2'));
    const b = await resolveTarget({ host: 'web1', password: 'other' }, ctx);
    assert.notEqual(a.poolKey, b.poolKey);
  });
});
