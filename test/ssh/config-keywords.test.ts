// ssh_config keywords as the ssh2 transport resolves them: the ones it honours (algorithm lists,
// ForwardAgent, BindAddress, ConnectionAttempts, SendEnv/SetEnv, RequestTTY) and the list of those
// it does not, with file and line. The connections these make are tested against sshd in
// keywords.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ConnectionError, UsageError } from '../../src/process/errors.js';
import { DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS, assembleAlgorithms } from '../../src/ssh/algorithms.js';
import {
  HONOURED_KEYWORDS,
  QUIET_KEYWORDS,
  UNHONOURED_KEYWORDS,
  unhonouredWarning,
} from '../../src/ssh/config-keywords.js';
import { readFileSync } from 'node:fs';
import { resolveTarget, type ResolveContext } from '../../src/ssh/resolve.js';
import { SshPool } from '../../src/ssh/pool.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetsh-keywords-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const home = path.join(dir, 'home');
mkdirSync(path.join(home, '.ssh'), { recursive: true });
const ctx: ResolveContext = {
  homedir: home,
  localUser: 'me',
  env: {
    SSH_AUTH_SOCK: '/run/agent.sock',
    OTHER_SOCK: '/run/other.sock',
    LANG: 'C.UTF-8',
    LC_ALL: 'C',
    LC_TIME: 'en_GB',
    SECRET: 'x',
  },
  systemConfigFile: false,
  globalKnownHostsFiles: [],
};
let n = 0;
function config(text: string): string {
  const file = path.join(dir, `config-${++n}`);
  writeFileSync(file, text);
  return file;
}
const resolve = (text: string, extra: object = {}, host = 'web1') =>
  resolveTarget({ host, sshConfig: config(text), ...extra }, ctx);

describe('algorithm lists', () => {
  test("the lists are ssh2's own", async () => {
    const c = (await import('ssh2/lib/protocol/constants.js' as string)) as Record<string, string[]>;
    const constants = (c as { default?: Record<string, string[]> }).default ?? c;
    assert.deepEqual([...SUPPORTED_ALGORITHMS.cipher].sort(), [...constants.SUPPORTED_CIPHER!].sort());
    assert.deepEqual([...SUPPORTED_ALGORITHMS.kex].sort(), [...constants.SUPPORTED_KEX!].sort());
    assert.deepEqual([...SUPPORTED_ALGORITHMS.hmac].sort(), [...constants.SUPPORTED_MAC!].sort());
    assert.deepEqual(
      [...SUPPORTED_ALGORITHMS.serverHostKey].sort(),
      [...constants.SUPPORTED_SERVER_HOST_KEY!].sort(),
    );
    assert.deepEqual(DEFAULT_ALGORITHMS.cipher, constants.DEFAULT_CIPHER);
    assert.deepEqual(DEFAULT_ALGORITHMS.hmac, constants.DEFAULT_MAC);
  });

  test('plain, +, - (with patterns) and ^, as OpenSSH assembles them', () => {
    assert.deepEqual(assembleAlgorithms('cipher', 'aes256-ctr,aes128-ctr'), {
      names: ['aes256-ctr', 'aes128-ctr'],
      unsupported: [],
    });
    assert.deepEqual(assembleAlgorithms('cipher', '+aes128-cbc').names, [
      ...DEFAULT_ALGORITHMS.cipher,
      'aes128-cbc',
    ]);
    assert.deepEqual(assembleAlgorithms('cipher', '^aes256-ctr').names, [
      'aes256-ctr',
      ...DEFAULT_ALGORITHMS.cipher.filter((c) => c !== 'aes256-ctr'),
    ]);
    assert.deepEqual(assembleAlgorithms('cipher', '-*-gcm@openssh.com,chacha20*').names, [
      'aes128-ctr',
      'aes192-ctr',
      'aes256-ctr',
    ]);
    assert.deepEqual(assembleAlgorithms('kex', 'sntrup761x25519-sha512@openssh.com,curve25519-sha256'), {
      names: ['curve25519-sha256'],
      unsupported: ['sntrup761x25519-sha512@openssh.com'],
    });
  });

  test('ssh_config sets the lists; an unsupported name is listed with its line; an empty list is an error', async () => {
    const t = await resolve(
      'Host web*\n  Ciphers aes128-ctr,umac-64@openssh.com\n  KexAlgorithms -ecdh-*\n  MACs ^hmac-sha2-512\n  HostKeyAlgorithms ssh-ed25519\n',
    );
    assert.deepEqual(t.algorithms.cipher, ['aes128-ctr']);
    assert.ok(!t.algorithms.kex!.some((k) => k.startsWith('ecdh-')));
    assert.equal(t.algorithms.hmac![0], 'hmac-sha2-512');
    assert.deepEqual(t.algorithms.serverHostKey, ['ssh-ed25519']);
    assert.equal(t.hostKeyAlgorithmsAsGiven, true);
    // + and - keep OpenSSH's reordering by known_hosts; so does leaving it out.
    assert.equal((await resolve('HostKeyAlgorithms +ssh-dss\n')).hostKeyAlgorithmsAsGiven, false);
    assert.equal((await resolve('HostKeyAlgorithms -ssh-rsa\n')).hostKeyAlgorithmsAsGiven, false);
    assert.equal((await resolve('')).hostKeyAlgorithmsAsGiven, false);
    const dropped = t.unhonoured.find((u) => u.keyword === 'Ciphers');
    assert.ok(dropped);
    assert.equal(dropped.line, 2);
    assert.equal(dropped.value, 'umac-64@openssh.com');
    assert.match(
      unhonouredWarning(dropped),
      /config-\d+:2: Ciphers umac-64@openssh\.com: not honoured.*leaves it out/,
    );

    const none = await resolve('Host *\n\n  Ciphers chacha20-poly1305,twofish\n').catch((e: unknown) => e);
    assert.ok(none instanceof ConnectionError && none.kind === 'config', String(none));
    assert.match(none.message, /Ciphers: "chacha20-poly1305,twofish" leaves no algorithm.*twofish/);
    // Not changing a list keeps the pool key (and the connection) of a target that does not set it.
    assert.deepEqual((await resolve('Host *\n  User u\n')).algorithms, {});
  });
});

describe('keywords ssh2 can honour', () => {
  test('ForwardAgent yes, a path, $VAR, no; the option wins', async () => {
    assert.equal((await resolve('ForwardAgent yes\n')).forwardAgent, '/run/agent.sock');
    assert.equal((await resolve('ForwardAgent no\n')).forwardAgent, undefined);
    assert.equal((await resolve('ForwardAgent $OTHER_SOCK\n')).forwardAgent, '/run/other.sock');
    assert.equal((await resolve('ForwardAgent ${OTHER_SOCK}.2\n')).forwardAgent, '/run/other.sock.2');
    assert.equal((await resolve('ForwardAgent ~/agent.%r\n')).forwardAgent, path.join(home, 'agent.me'));
    assert.equal((await resolve('')).forwardAgent, undefined);
    assert.equal(
      (await resolve('ForwardAgent no\n', { forwardAgent: true })).forwardAgent,
      '/run/agent.sock',
    );
    assert.equal((await resolve('ForwardAgent yes\n', { forwardAgent: false })).forwardAgent, undefined);
    // IdentityAgent names the agent that is forwarded too (as ssh sets SSH_AUTH_SOCK from it).
    assert.equal(
      (await resolve('IdentityAgent /run/id.sock\nForwardAgent yes\n')).forwardAgent,
      '/run/id.sock',
    );
    await assert.rejects(resolve('', { forwardAgent: 3 }), UsageError);
  });

  test('BindAddress, ConnectionAttempts, RequestTTY', async () => {
    const t = await resolve(
      'Host web1\n  BindAddress 127.0.0.2\n  ConnectionAttempts 3\n  RequestTTY force\n',
    );
    assert.equal(t.bindAddress, '127.0.0.2');
    assert.equal(t.connectionAttempts, 3);
    assert.equal(t.requestTty, true);
    const d = await resolve('RequestTTY auto\n');
    assert.equal(d.connectionAttempts, 1);
    assert.equal(d.bindAddress, undefined);
    assert.equal(d.requestTty, undefined);
    assert.equal((await resolve('RequestTTY no\n')).requestTty, false);
    await assert.rejects(resolve('RequestTTY sometimes\n'), /RequestTTY: expected yes, no, force or auto/);
    await assert.rejects(
      resolve('ConnectionAttempts many\n'),
      /ConnectionAttempts: "many" is not a whole number/,
    );
  });

  test('a BindAddress that is not one IP address is a config error naming the file and line', async () => {
    assert.equal((await resolve('BindAddress ::1\n')).bindAddress, '::1');
    for (const value of ['myhost.example', '127.0.0.1 127.0.0.2', '300.1.1.1']) {
      const file = config(`Host web1\n  User me\n  BindAddress ${value}\n`);
      await assert.rejects(resolveTarget({ host: 'web1', sshConfig: file }, ctx), (e: ConnectionError) => {
        assert.ok(e instanceof ConnectionError, String(e));
        assert.equal(e.kind, 'config');
        assert.ok(
          e.message.startsWith(
            `web1: invalid connection settings: ssh_config ${file}:3: BindAddress: expected one IP address of this machine, got "${value}"\n`,
          ),
          e.message,
        );
        return true;
      });
    }
  });

  test("SendEnv never sends fleetsh's own variables, whatever its patterns", async () => {
    const t = await resolveTarget(
      { host: 'web1', sshConfig: config('SendEnv *\n') },
      { ...ctx, env: { LANG: 'C', FLEETSH_JOB: 'outer', FLEETSH_HOST: 'h', FLEETSH_AGENT_READY_FD: '3' } },
    );
    assert.deepEqual({ ...t.env }, { LANG: 'C' });
  });

  test('SendEnv patterns add up and -PATTERN takes them back; SetEnv wins; the env is not enumerable', async () => {
    const t = await resolve(
      'Host web*\n  SendEnv LANG LC_*\n  SetEnv LC_TIME=C.UTF-8 "GREETING=hello world"\nHost *\n  SendEnv -LC_* NOPE\n',
    );
    assert.deepEqual({ ...t.env }, { LANG: 'C.UTF-8', LC_TIME: 'C.UTF-8', GREETING: 'hello world' });
    assert.ok(!Object.keys(t).includes('env'));
    assert.ok(!JSON.stringify(t).includes('hello world'));
    await assert.rejects(resolve('SetEnv 1BAD=x\n'), /SetEnv: expected NAME=VALUE, got "1BAD=x"/);
    // Quotes and backslashes as OpenSSH's argv_split reads the line (`ssh -G` shows the same values).
    assert.deepEqual(
      { ...(await resolve(`Host web1\n  SetEnv A="x y" B=it\\"s C='q"q' D=a\\ b E=c:\\d # F=no\r\n`)).env },
      { A: 'x y', B: 'it"s', C: 'q"q', D: 'a b', E: 'c:\\d' },
    );
    assert.deepEqual({ ...(await resolve('SetEnv = G=1\n')).env }, { G: '1' });
    // Only the first SetEnv line counts, and in it a name's first value (OpenSSH 9.2).
    assert.deepEqual({ ...(await resolve('SetEnv A=1 A=2 B=3\nSetEnv C=4\n')).env }, { A: '1', B: '3' });
    // Through the agent, the environment holds a few variables only: patterns beyond LANG and LC_* warn.
    const partial = await resolveTarget(
      { host: 'web1', sshConfig: config('SendEnv LANG LC_ALL\nSendEnv MY_* LC_*\n') },
      { ...ctx, partialEnv: true },
    );
    assert.deepEqual({ ...partial.env }, { LANG: 'C.UTF-8', LC_ALL: 'C', LC_TIME: 'en_GB' });
    assert.deepEqual(
      partial.unhonoured.map((u) => [u.keyword, u.line, u.value]),
      [['SendEnv', 2, 'MY_*']],
    );
    assert.deepEqual((await resolve('SendEnv MY_*\n')).unhonoured, []);
    // Different environments are different connections.
    const other = await resolve('SetEnv A=1\n');
    const plain = await resolve('');
    assert.notEqual(other.poolKey, plain.poolKey);
  });
});

describe('keywords not honoured', () => {
  test('each is listed once with its file and line, what happens instead, and whether ssh would honour it', async () => {
    const file = config(
      [
        '# a comment',
        'Host web*',
        '  AddKeysToAgent yes',
        '  LogLevel DEBUG3',
        '  CertificateFile ~/.ssh/id_ed25519-cert.pub',
        '',
        '  ForwardX11 no',
        '  LocalForward 8080 localhost:80',
        'Match host web1 exec "test -e /tmp/x"',
        '  User nobody',
        'Host *',
        '  ControlMaster auto',
        '  ForwardX11 yes',
        '  Frobnicate on',
        '  GSSAPIAuthentication no',
      ].join('\n') + '\n',
    );
    const t = await resolveTarget({ host: 'web1', sshConfig: file }, ctx);
    assert.equal(t.user, 'me', 'Match exec counts as not matching');
    assert.deepEqual(
      t.unhonoured.map((u) => [u.keyword, u.line, u.openssh]),
      [
        ['CertificateFile', 5, true],
        ['LocalForward', 8, false],
        ['ControlMaster', 12, true],
        ['frobnicate', 14, false],
        ['Match exec', 9, true],
      ],
    );
    const text = t.unhonoured.map(unhonouredWarning);
    assert.match(
      text[0]!,
      new RegExp(
        `^ssh_config ${file}:5: CertificateFile ~/.ssh/id_ed25519-cert.pub: not honoured by the ssh2 transport, it logs in without the certificate; --transport openssh`,
      ),
    );
    assert.match(
      text[4]!,
      /:9: Match host web1 exec test -e \/tmp\/x: .*counts as not matching; --transport openssh/,
    );
    assert.doesNotMatch(text[1]!, /openssh/);
    // A host the sections do not apply to has nothing to say.
    const other = await resolveTarget({ host: 'db1', sshConfig: file }, ctx);
    assert.deepEqual(
      other.unhonoured.map((u) => u.keyword),
      ['ControlMaster', 'ForwardX11', 'frobnicate'],
    );
  });

  test("GSSAPIAuthentication yes (Debian's default) warns only when this machine holds Kerberos credentials", async () => {
    const text = 'Host *\n  GSSAPIAuthentication yes\n  GSSAPIDelegateCredentials yes\n';
    const without = await resolveTarget({ host: 'web1', sshConfig: config(text) }, ctx);
    assert.deepEqual(without.unhonoured, []);
    const withTicket = await resolveTarget(
      { host: 'web1', sshConfig: config(text) },
      { ...ctx, env: { ...ctx.env, KRB5CCNAME: 'FILE:/tmp/krb5cc_test' } },
    );
    assert.deepEqual(
      withTicket.unhonoured.map((u) => [u.keyword, u.line, u.openssh]),
      [
        ['GSSAPIAuthentication', 2, true],
        ['GSSAPIDelegateCredentials', 3, true],
      ],
    );
  });

  test('the pool warns once per keyword, for targets and their jump hosts alike', async () => {
    const file = config(
      'Host bastion\n  ControlMaster auto\nHost web*\n  ProxyJump bastion\n  ForwardX11 yes\nHost *\n  ControlPersist 10m\n',
    );
    const warnings: string[] = [];
    const pool = new SshPool({ onWarning: (m) => warnings.push(m) });
    try {
      for (const host of ['web1', 'web2', 'web3']) {
        // A connection object is made, not connected: the warnings come with it.
        pool.connection(await resolveTarget({ host, sshConfig: file }, ctx));
      }
      assert.deepEqual(
        warnings.map((w) => w.replace(/^ssh_config [^:]+:(\d+): (\w+).*$/, '$2:$1')),
        ['ControlMaster:2', 'ControlPersist:7', 'ForwardX11:5'],
      );
    } finally {
      pool.close();
    }
  });

  test('IgnoreUnknown quiets unknown keywords it names', async () => {
    const t = await resolve('IgnoreUnknown UseKeychain,Frob*\nFrobnicate yes\nOther 1\n');
    assert.deepEqual(
      t.unhonoured.map((u) => u.keyword),
      ['other'],
    );
  });

  test("docs/ssh.md's table names every keyword of the code's", () => {
    const docs = readFileSync(new URL('../../docs/ssh.md', import.meta.url), 'utf8');
    const section = docs.slice(docs.indexOf('## ssh_config keywords'), docs.indexOf('## Authentication'));
    const all = [...HONOURED_KEYWORDS, ...Object.keys(QUIET_KEYWORDS), ...Object.keys(UNHONOURED_KEYWORDS)];
    assert.deepEqual(
      all.filter((k) => !section.includes(`\`${k}\``)),
      [],
    );
    assert.equal(new Set(all.map((k) => k.toLowerCase())).size, all.length, 'each keyword in one table');
  });

  test('line numbers count blank lines, comments and CRLF line ends', async () => {
    const t = await resolve('\r\n\r\n  # x\r\nHost *\r\n\r\n   PKCS11Provider /usr/lib/p11.so\r\n');
    assert.deepEqual(
      t.unhonoured.map((u) => [u.keyword, u.line]),
      [['PKCS11Provider', 6]],
    );
  });
});
