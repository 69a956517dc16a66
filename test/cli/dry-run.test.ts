// `--dry-run` on run, copy, pull and rolling against real OpenSSH servers and the harness's faults
// (changed key, unknown key through a known_hosts without the host, dead port, black hole, a host
// behind a jump host): each host's address, user, key file and host key status, exit 2 when a run
// would not reach a host or would refuse its key, and nothing done: the command that would touch a
// file does not run, copy's --validate does not run, no file is copied or pulled, no host key is
// recorded, and the last run's host sets are left as they were.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

describe('fleetsh --dry-run', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  let conn: string[];
  const marker = () => join(tmp.dir, 'touched');

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3, faults: ['dead-port', 'black-hole', 'changed-key'] });
    conn = ['-F', fleet.sshConfigPath];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('run: each host with its address, user, key and host key; changed key and dead port make it exit 2; nothing runs', async () => {
    const r = await fleetsh(
      ['run', ...conn, '--dry-run', '-w', 'h01,h-changed-key,h-dead-port', '--', `touch ${marker()}`],
      { env },
    );
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const h01 = fleet.host('h01');
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `dry run of: run touch ${marker()} (nothing is run)`);
    const at = lines.indexOf('h01: ready');
    assert.ok(at > 0, r.stdout);
    assert.equal(lines[at + 1], `  address   ${fleet.user}@${h01.address}:${h01.port}`);
    assert.match(
      lines[at + 2]!,
      new RegExp(
        `^  auth      ${fleet.clientKeyPath} \\(IdentityFile in ${fleet.sshConfigPath}\\): ssh-ed25519 SHA256:`,
      ),
    );
    assert.match(
      lines[at + 3]!,
      new RegExp(`^  host key  known \\(${fleet.knownHostsPath}:1\\): ssh-ed25519 SHA256:`),
    );
    assert.match(r.stdout, /^h-changed-key: host key refused \(changed-host-key\)$/m);
    assert.match(
      r.stdout,
      /^  host key  CHANGED: ssh-ed25519 SHA256:\S+ is not the ssh-ed25519 key recorded at .*; a run would refuse it/m,
    );
    assert.match(r.stdout, /^h-dead-port: unreachable \(refused\)$/m);
    assert.match(r.stdout, /^contacted: key exchange only, no login: h-changed-key,h-dead-port,h01$/m);
    assert.match(r.stdout, /^3 hosts: 1 ready, 1 host key refused, 1 unreachable in .*; nothing was run$/m);
    assert.ok(!existsSync(marker()), 'the command did not run');
    assert.ok(!existsSync(tmp.stateFile), 'no last run recorded');
  });

  test('an unknown host key (known_hosts without the host) is refused and not recorded; a black hole is unreachable; --json', async () => {
    const empty = join(tmp.dir, 'known_hosts.empty');
    writeFileSync(empty, '');
    const r = await fleetsh(
      [
        'run',
        ...conn,
        '--known-hosts',
        empty,
        '--connect-timeout',
        '1',
        '--dry-run',
        '-w',
        'h02,h-black-hole',
        '--json',
        '--',
        'true',
      ],
      { env },
    );
    assert.equal(r.code, 2, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.exitCode, 2);
    const [h02, hole] = doc.hosts;
    assert.deepEqual(
      [h02.status, h02.kind, h02.connection.hostKey.status],
      ['host-key', 'unknown-host-key', 'unknown'],
    );
    assert.match(h02.connection.hostKey.key.fingerprint, /^SHA256:/);
    assert.deepEqual([hole.status, hole.kind], ['unreachable', 'connect-timeout']);
    assert.equal(readFileSync(empty, 'utf8'), '', 'nothing recorded');
    const text = await fleetsh(
      ['run', ...conn, '--known-hosts', empty, '--dry-run', '-w', 'h02', '--', 'true'],
      { env },
    );
    assert.match(
      text.stdout,
      /^  host key  unknown: ssh-ed25519 SHA256:\S+, not in known_hosts as \[[\d.]+\]:\d+; a run would refuse it \(hostKeyPolicy 'strict'\)$/m,
    );
  });

  test('a host behind a jump host: the jump host is logged in to, the host only probed; exit 0', async () => {
    const h = fleet.host('h03');
    const config = join(tmp.dir, 'ssh_config.jump');
    writeFileSync(
      config,
      readFileSync(fleet.sshConfigPath, 'utf8') +
        [
          '',
          'Host behind',
          `  HostName ${h.address}`,
          `  Port ${h.port}`,
          '  ProxyJump h01',
          `  IdentityFile ${fleet.clientKeyPath}`,
          `  UserKnownHostsFile ${fleet.knownHostsPath}`,
          '',
        ].join('\n'),
    );
    const r = await fleetsh(['run', '-F', config, '--dry-run', '-w', 'behind', '--', `touch ${marker()}`], {
      env,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^  through   h01 \(\S+@[\d.]+:\d+\)$/m);
    assert.match(r.stdout, /^  jump key  h01: known/m);
    assert.match(
      r.stdout,
      /^contacted: key exchange only, no login: behind; logged in to reach the hosts behind them \(jump hosts\): h01$/m,
    );
    assert.ok(!existsSync(marker()));
  });

  test('copy --backup: which hosts would change (a read-only checksum), with no file copied and --validate not run', async () => {
    const src = join(tmp.dir, 'app.conf');
    writeFileSync(src, 'new\n');
    const dest = join(tmp.dir, 'app.conf.installed');
    writeFileSync(dest, 'old\n');
    const r = await fleetsh(
      [
        'copy',
        ...conn,
        '--dry-run',
        '--backup',
        '--validate',
        `touch ${marker()}`,
        '-w',
        'h[01-02]',
        src,
        dest,
      ],
      { env },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^dry run of: copy .* --backup --validate \(nothing is run but a read-only checksum per file\)$/m,
    );
    assert.ok(r.stdout.includes(`  file      ${dest}: would be replaced (SHA-256 `), r.stdout);
    assert.match(r.stdout, /^files: a sync would change h\[01-02\]$/m);
    assert.match(r.stdout, /^contacted: logged in to read checksums \(sha256sum, read-only\): h\[01-02\]$/m);
    assert.equal(readFileSync(dest, 'utf8'), 'old\n');
    assert.ok(!existsSync(`${dest}.fleetsh-backup`));
    assert.ok(!existsSync(marker()), '--validate did not run');
    writeFileSync(dest, 'new\n');
    const same = await fleetsh(['copy', ...conn, '--dry-run', '--backup', '-w', 'h01', src, dest], { env });
    assert.match(same.stdout, /^files: would leave h01 alone \(same SHA-256\)$/m);
  });

  test('copy and pull without a sync connect for the host key only; nothing is copied or pulled', async () => {
    const src = join(tmp.dir, 'payload');
    writeFileSync(src, 'x\n');
    const copy = await fleetsh(['copy', ...conn, '--dry-run', '-w', 'h01', src, join(tmp.dir, 'copied')], {
      env,
    });
    assert.equal(copy.code, 0, copy.stderr);
    assert.doesNotMatch(copy.stdout, /checksum/);
    assert.ok(!existsSync(join(tmp.dir, 'copied')));
    const out = join(tmp.dir, 'pulled');
    const pull = await fleetsh(['pull', ...conn, '--dry-run', '-w', 'h01', src, out], { env });
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /^dry run of: pull .* \(nothing is run\)$/m);
    assert.ok(!existsSync(out));
    const nd = await fleetsh(['pull', ...conn, '--dry-run', '--ndjson', '-w', 'h01', src, out], { env });
    const events = nd.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      events.map((e) => e.event),
      ['plan', 'exit'],
    );
    assert.equal(events[0].hosts[0].status, 'ready');
    assert.equal(events[1].code, 0);
  });

  test('rolling: the batches, each host once, and the deployment command not run', async () => {
    const r = await fleetsh(
      [
        'rolling',
        ...conn,
        '--dry-run',
        '-w',
        'h[01-03]',
        '--batches',
        '1,100%',
        '--health',
        'true',
        '--',
        `touch ${marker()}`,
      ],
      { env },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^batches:\n  deploy batch 1: h01 \(1\)\n  deploy batch 2: h\[02-03\] \(2\)$/m);
    assert.match(r.stdout, /^3 hosts: 3 ready/m);
    assert.ok(!existsSync(marker()));
  });

  test('--help shows --dry-run, and pull', async () => {
    const run = await fleetsh(['run', '--help']);
    assert.match(run.stdout, /--dry-run +run nothing/);
    const top = await fleetsh(['--help']);
    assert.match(top.stdout, /^ +pull \[options\] <remote> <localdir> +get a file or a directory/m);
  });
});
