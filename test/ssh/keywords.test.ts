// ssh_config keywords the ssh2 transport honours, against real sshd: ForwardAgent (a real ssh-agent,
// seen by `ssh-add -l` on the host; an sshd that refuses it still runs the command), Ciphers and
// KexAlgorithms against an sshd that allows one of each, HostKeyAlgorithms, BindAddress (the host
// sees the source address), ConnectionAttempts (a port that refuses, then accepts), SendEnv and
// SetEnv (what sshd's AcceptEnv refuses is dropped without an error, as with ssh), RequestTTY, and
// the warning for a security key (sk-) IdentityFile.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LookupFunction } from 'node:net';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ConnectionError } from '../../src/process/errors.js';
import { SshPool } from '../../src/ssh/pool.js';
import { createSsh, type SshFunction } from '../../src/ssh/shell.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';
import { sshFor } from './helpers.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const execFileP = promisify(execFile);

/** An ssh_config that reads the fleet's own first (first value wins), then `lines` for every host. */
function configWith(fleet: TestFleet, name: string, lines: string[]): string {
  const file = join(fleet.dir, `keywords-${name}.config`);
  writeFileSync(
    file,
    [`Include ${fleet.sshConfigPath}`, 'Host *', ...lines.map((l) => `  ${l}`), ''].join('\n'),
  );
  return file;
}

describe('ssh_config keywords against sshd', { skip }, () => {
  let fleet: TestFleet;
  let warnings: string[];
  let ssh: SshFunction;
  // The third host's sshd refuses agent forwarding (the fleet's addresses end in .1, .2, .3).
  before(async () => {
    fleet = await startFleet({
      healthy: 3,
      extraSshdConfig: [
        'AcceptEnv FLEETSH_KW_* LANG FLEETSH_HOST FLEETSH_JOB',
        'Match LocalAddress 127.*.*.3',
        '  AllowAgentForwarding no',
      ].join('\n'),
    });
    warnings = [];
    ssh = sshFor(fleet, { onWarning: (m) => warnings.push(m) });
  });
  after(async () => {
    await ssh?.close();
    await fleet?.stop();
  });
  const run = (host: number, config: string, command: string, extra: object = {}) =>
    ssh({ host: fleet.healthy[host]!.name, sshConfig: config, ...extra })`${command}`;

  describe('ForwardAgent', () => {
    let agent: ChildProcess | undefined;
    let socket: string;
    let fingerprint: string;
    before(async () => {
      socket = join(fleet.dir, 'agent.sock');
      // -D: in the foreground, so it is this test's child, killed by its pid.
      agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      const env = { ...process.env, SSH_AUTH_SOCK: socket };
      for (let i = 0; ; i++) {
        try {
          await execFileP('ssh-add', ['-l'], { env });
          break;
        } catch (e) {
          // 1: the agent answers and holds no key; 2: it is not listening yet.
          if ((e as { code?: number }).code === 1) break;
          if (i > 100) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await execFileP('ssh-add', [join(fleet.dir, 'other_ed25519')], { env });
      fingerprint = (await execFileP('ssh-add', ['-l'], { env })).stdout.trim().split(' ')[1]!;
    });
    after(() => {
      if (agent?.pid !== undefined && agent.exitCode === null) agent.kill('SIGTERM');
    });

    test('forwarded, ssh-add -l on the host lists the key; not forwarded, it finds no agent', async () => {
      const config = configWith(fleet, 'fwd', [`ForwardAgent ${socket}`]);
      const r = await run(0, config, 'ssh-add -l');
      assert.match(r.stdout, new RegExp(fingerprint.replace(/[+/]/g, '\\$&')));
      // The option (and -A) is the same: the agent used to log in is forwarded.
      const opt = await run(1, fleet.sshConfigPath, 'ssh-add -l', { agent: socket, forwardAgent: true });
      assert.ok(opt.stdout.includes(fingerprint));
      // The option wins over ssh_config.
      const off = await run(1, config, 'ssh-add -l; echo "[$SSH_AUTH_SOCK]"', {
        forwardAgent: false,
      }).nothrow();
      assert.match(off.stdout, /\[\]\n$/);
      assert.equal(off.exitCode, 0, 'echo ran last');
      const none = await run(2, fleet.sshConfigPath, 'ssh-add -l').nothrow();
      assert.equal(none.exitCode, 2, 'no agent to talk to');
    });

    test('over the OpenSSH transport: forwardAgent (and -A) reaches the system ssh; false wins over ssh_config', async () => {
      const openssh = { transport: 'openssh' as const };
      const opt = await run(0, fleet.sshConfigPath, 'ssh-add -l', {
        ...openssh,
        agent: socket,
        forwardAgent: true,
      });
      assert.ok(opt.stdout.includes(fingerprint));
      const config = configWith(fleet, 'fwd-openssh', [`ForwardAgent ${socket}`]);
      const fromConfig = await run(1, config, 'ssh-add -l', openssh);
      assert.ok(fromConfig.stdout.includes(fingerprint), 'ssh reads ForwardAgent itself');
      const off = await run(1, config, 'echo "[$SSH_AUTH_SOCK]"', { ...openssh, forwardAgent: false });
      assert.equal(off.stdout, '[]\n');
    });

    test('a server that refuses agent forwarding still runs the command, with one warning', async () => {
      const config = configWith(fleet, 'fwd-refused', [`ForwardAgent ${socket}`]);
      const r = await run(2, config, 'echo ran; ssh-add -l').nothrow();
      assert.equal(r.stdout.split('\n')[0], 'ran');
      assert.equal(r.exitCode, 2);
      await run(2, config, 'true');
      assert.equal(warnings.filter((w) => /refused agent forwarding/.test(w)).length, 1);
    });
  });

  describe('Ciphers and KexAlgorithms', () => {
    // One cipher and one key exchange, each outside fleetsh's defaults (both ssh2 can do).
    let strict: TestFleet;
    let strictSsh: SshFunction;
    before(async () => {
      strict = await startFleet({
        healthy: 1,
        extraSshdConfig: 'Ciphers aes128-cbc\nKexAlgorithms diffie-hellman-group14-sha1',
      });
      strictSsh = sshFor(strict);
    });
    after(async () => {
      await strictSsh?.close();
      await strict?.stop();
    });
    const on = (name: string, lines: string[]) =>
      strictSsh({ host: strict.healthy[0]!.name, sshConfig: configWith(strict, name, lines) })`echo ok`;

    test('an sshd with one cipher and one key exchange is reached when ssh_config names them', async () => {
      const r = await on('both', ['Ciphers +aes128-cbc', 'KexAlgorithms ^diffie-hellman-group14-sha1']);
      assert.equal(r.stdout, 'ok\n');
    });

    test('not reached when it does not: a protocol error, not retried, naming what was not agreed', async () => {
      const cases: Array<[string, string[], RegExp]> = [
        ['defaults', [], /key exchange|kex/i],
        ['no-cipher', ['KexAlgorithms +diffie-hellman-group14-sha1'], /cipher/i],
        ['no-kex', ['Ciphers aes128-cbc', 'KexAlgorithms -diffie-hellman-*'], /key exchange|kex/i],
      ];
      for (const [name, lines, names] of cases) {
        const err = await on(name, lines).catch((e: unknown) => e);
        assert.ok(err instanceof ConnectionError, `${name}: ${String(err)}`);
        assert.equal(err.kind, 'protocol', `${name}: ${err.message}`);
        assert.equal(err.retryable, false, `${name}: ${err.message}`);
        assert.match(err.message, names, name);
        assert.match(err.hint ?? '', /KexAlgorithms, HostKeyAlgorithms, Ciphers or MACs/, name);
      }
    });
  });

  test('HostKeyAlgorithms: a list without the host key type the server has fails; + keeps it', async () => {
    const only = configWith(fleet, 'hka-only', ['HostKeyAlgorithms ecdsa-sha2-nistp256,rsa-sha2-512']);
    const err = await run(0, only, 'true').catch((e: unknown) => e);
    assert.ok(err instanceof ConnectionError && err.kind === 'protocol', String(err));
    assert.match(err.message, /host key/i);
    const plus = configWith(fleet, 'hka-plus', ['HostKeyAlgorithms +ssh-dss']);
    assert.equal((await run(0, plus, 'echo ok')).stdout, 'ok\n');
  });

  test('an IdentityFile that is a security key (sk-) takes the OpenSSH transport; held to ssh2, it is skipped with one warning', async () => {
    // An openssh-key-v1 container whose public key is sk-ssh-ed25519 (no authenticator needed).
    const str = (b: Buffer | string) => {
      const body = Buffer.from(b);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      return Buffer.concat([len, body]);
    };
    const pub = Buffer.concat([str('sk-ssh-ed25519@openssh.com'), str(Buffer.alloc(32, 7)), str('ssh:')]);
    const container = Buffer.concat([
      Buffer.from('openssh-key-v1\0', 'latin1'),
      str('none'),
      str('none'),
      str(''),
      Buffer.from([0, 0, 0, 1]),
      str(pub),
      str(Buffer.alloc(64, 1)),
    ]);
    const skFile = join(fleet.dir, 'id_ed25519_sk');
    writeFileSync(
      skFile,
      `-----BEGIN OPENSSH PRIVATE KEY-----\n${container.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`,
      { mode: 0o600 },
    );
    const config = configWith(fleet, 'sk', [`IdentityFile ${skFile}`]);
    // Left to choose, the host takes the OpenSSH transport, which can use the key.
    assert.equal(await ssh({ host: fleet.healthy[0]!.name, sshConfig: config }).transport(), 'openssh');
    // Held to ssh2, the key is skipped with one warning, however many commands run.
    const before = warnings.length;
    await run(0, config, 'true', { transport: 'ssh2' });
    await run(1, config, 'true', { transport: 'ssh2' });
    const said = warnings.slice(before).filter((w) => /security key \(sk-/.test(w) && w.includes(skFile));
    assert.equal(said.length, 1, warnings.slice(before).join('\n'));
    assert.match(
      said[0]!,
      /transport 'ssh2' is set .*security key \(sk-ssh-ed25519@openssh\.com\).*which the ssh2 transport cannot use/,
    );
  });

  test('BindAddress: the host sees the connection come from that address', async () => {
    const config = configWith(fleet, 'bind', ['BindAddress 127.0.0.2']);
    const r = await run(0, config, 'echo "$SSH_CLIENT"');
    assert.match(r.stdout, /^127\.0\.0\.2 \d+ \d+\n$/);
    const plain = await run(0, fleet.sshConfigPath, 'echo "$SSH_CLIENT"');
    assert.doesNotMatch(plain.stdout, /^127\.0\.0\.2 /);
  });

  test('ConnectionAttempts: a refused connect is tried again 1 s later, up to the count', async () => {
    const h = fleet.healthy[0]!;
    const deadAddress = h.address.replace(/\.\d+$/, '.250'); // nothing listens there
    const lookups: string[] = [];
    // Each TCP attempt asks for the name again: attempts 1 and 2 get an address that refuses.
    const lookup = ((name: string, o: { all?: boolean }, cb: (e: null, a: unknown, f?: number) => void) => {
      lookups.push(name);
      const address = lookups.length < 3 ? deadAddress : h.address;
      process.nextTick(() => (o.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)));
    }) as unknown as LookupFunction;
    const counted = sshFor(fleet, { lookup });
    try {
      const config = join(fleet.dir, 'attempts.config');
      writeFileSync(
        config,
        [
          'Host flaky',
          '  HostName flaky.invalid',
          `  Port ${h.port}`,
          `  HostKeyAlias [${h.address}]:${h.port}`,
          `Include ${fleet.sshConfigPath}`,
          `Host *`,
          `  IdentityFile ${fleet.clientKeyPath}`,
          `  UserKnownHostsFile ${fleet.knownHostsPath}`,
          `  User ${fleet.user}`,
          '',
        ].join('\n'),
      );
      const once = await counted({ host: 'flaky', sshConfig: config })`true`.catch((e: unknown) => e);
      assert.ok(once instanceof ConnectionError && once.kind === 'refused', String(once));
      assert.equal(lookups.length, 1);
      lookups.length = 0;
      writeFileSync(config, `Host flaky\n  ConnectionAttempts 3\n${readFileSync(config, 'utf8')}`);
      const r = await counted({ host: 'flaky', sshConfig: config, connectTimeout: '20s' })`echo reached`;
      assert.equal(r.stdout, 'reached\n');
      assert.equal(lookups.length, 3);
    } finally {
      await counted.close();
    }
  });

  test('SetEnv and SendEnv: sent before each command; what AcceptEnv refuses is left out, not an error', async () => {
    process.env.FLEETSH_KW_SENT = 'from here';
    process.env.FLEETSH_NOT_ACCEPTED = 'refused';
    // sshFor reads an empty environment; this one reads the process's, as the CLI does.
    const withEnv = createSsh(new SshPool({ onWarning: () => {} }), {
      homedir: fleet.dir,
      systemConfigFile: false,
      globalKnownHostsFiles: [],
    });
    try {
      const config = configWith(fleet, 'env', [
        'SendEnv FLEETSH_*',
        'SetEnv FLEETSH_KW_SET="two words" FLEETSH_ALSO_REFUSED=1 FLEETSH_KW_Q=it\\"s\\ \\\\\'a"b\'',
      ]);
      const r = await withEnv({
        host: fleet.healthy[0]!.name,
        sshConfig: config,
      })`env | grep -E '^FLEETSH_(KW|NOT|ALSO)' | sort`;
      // Quotes and backslashes as OpenSSH reads them (ssh -G shows the same).
      assert.equal(
        r.stdout,
        'FLEETSH_KW_Q=it"s \\a"b\nFLEETSH_KW_SENT=from here\nFLEETSH_KW_SET=two words\n',
      );
    } finally {
      delete process.env.FLEETSH_KW_SENT;
      delete process.env.FLEETSH_NOT_ACCEPTED;
      await withEnv.close();
    }
  });

  test("SendEnv never sends fleetsh's own variables (a fleetsh run inside a fleetsh command has them), over either transport", async () => {
    process.env.FLEETSH_HOST = 'outer-host';
    process.env.FLEETSH_JOB = 'outer-job';
    process.env.FLEETSH_KW_MINE = 'mine';
    const withEnv = createSsh(new SshPool({ onWarning: () => {} }), {
      homedir: fleet.dir,
      systemConfigFile: false,
      globalKnownHostsFiles: [],
    });
    try {
      const config = configWith(fleet, 'own-env', ['SendEnv *']);
      for (const transport of ['ssh2', 'openssh'] as const) {
        // FLEETSH_JOB goes the same way; the command line sets its own, so it is not seen here.
        const r = await withEnv({
          host: fleet.healthy[0]!.name,
          sshConfig: config,
          transport,
        })`echo "\${FLEETSH_HOST-unset} \${FLEETSH_KW_MINE-unset}"`;
        assert.equal(r.stdout, 'unset mine\n', transport);
      }
    } finally {
      delete process.env.FLEETSH_HOST;
      delete process.env.FLEETSH_JOB;
      delete process.env.FLEETSH_KW_MINE;
      await withEnv.close();
    }
  });

  test('Compression yes: zlib on the wire (the bytes from the host shrink), the output whole; no compression by default', async () => {
    // A ProxyCommand relay that counts the bytes the host sends, written to a file when it ends.
    const relay = join(fleet.dir, 'count-relay.cjs');
    writeFileSync(
      relay,
      [
        "const fs = require('fs');",
        "const sock = require('net').connect(Number(process.argv[3]), process.argv[2]);",
        'let n = 0;',
        "sock.on('data', (d) => { n += d.length; process.stdout.write(d); });",
        'process.stdin.pipe(sock);',
        'const done = () => { fs.writeFileSync(process.argv[4], String(n)); process.exit(0); };',
        "sock.on('close', done);",
        "process.stdin.on('end', () => sock.end());",
      ].join('\n'),
    );
    const received = async (name: string, lines: string[]): Promise<number> => {
      const count = join(fleet.dir, `${name}.count`);
      const config = configWith(fleet, name, [
        ...lines,
        `ProxyCommand ${process.execPath} ${relay} %h %p ${count}`,
      ]);
      const own = sshFor(fleet);
      try {
        const r = await own({
          host: fleet.healthy[0]!.name,
          sshConfig: config,
        })`head -c 3000000 /dev/zero`.timeout('60s');
        assert.equal(r.stdoutBuffer.length, 3_000_000, `${name}: the output whole`);
      } finally {
        await own.close();
      }
      for (let i = 0; i < 50 && !existsSync(count); i++) await new Promise((r) => setTimeout(r, 100));
      return Number(readFileSync(count, 'utf8'));
    };
    const zlib = await received('compressed', ['Compression yes']);
    const plain = await received('uncompressed', []);
    assert.ok(zlib < 200_000, `with Compression yes the host sent ${zlib} bytes for 3 MB of zeros`);
    assert.ok(plain > 3_000_000, `without it the host sent ${plain} bytes for 3 MB of zeros`);
    assert.ok(!warnings.some((w) => /Compression/.test(w)), 'no warning: the keyword is honoured');
  });

  test('RequestTTY yes gives commands a terminal unless they say pty: false; no gives none', async () => {
    const config = configWith(fleet, 'tty', ['RequestTTY yes']);
    const r = await run(1, config, 'tty');
    assert.match(r.stdout, /^\/dev\/pts\/\d+\r\n$/);
    // The command's own say wins.
    const off = await run(1, config, 'tty').pty(false).nothrow();
    assert.equal(off.stdout, 'not a tty\n');
    const no = await run(1, configWith(fleet, 'notty', ['RequestTTY no']), 'tty').nothrow();
    assert.equal(no.stdout, 'not a tty\n');
  });

  test('RequestTTY over the OpenSSH transport: the same terminal unless a command says pty: false', async () => {
    const config = configWith(fleet, 'tty-openssh', ['RequestTTY yes']);
    const r = await run(2, config, 'tty', { transport: 'openssh' });
    assert.match(r.stdout, /^\/dev\/pts\/\d+\r\n$/);
    const off = await run(2, config, 'tty', { transport: 'openssh' }).pty(false).nothrow();
    assert.equal(off.stdout, 'not a tty\n');
  });
});
