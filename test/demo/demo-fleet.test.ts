import { spawn, execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { startDemoFleet, DEMO_MARKER_VAR, type DemoFleet, type DemoHost } from '../../src/demo/index.js';
import { generateKeyPair } from '../../src/demo/keys.js';
import { alive, collect, connect, exec, firstLine, openExec, waitUntil, type SshClient } from './helpers.js';

const execFileP = promisify(execFile);
const SLOW = 1;
const FAILING = 2;
const SILENT = 3;

/** PIDs whose environment carries the fleet's marker (Linux only; [] elsewhere). */
function markedPids(dir: string): number[] {
  if (process.platform !== 'linux') return [];
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'latin1');
      if (environ.includes(`${DEMO_MARKER_VAR}=${dir}\0`) && alive(Number(name))) out.push(Number(name));
    } catch {
      // Gone or not ours.
    }
  }
  return out;
}

describe('demo fleet', () => {
  let fleet: DemoFleet;
  const clients = new Map<string, SshClient>();
  const host = (i: number): DemoHost => fleet.hosts[i]!;
  const client = async (i: number): Promise<SshClient> => {
    const h = host(i);
    let c = clients.get(h.name);
    if (!c) {
      c = await connect(fleet, h);
      clients.set(h.name, c);
    }
    return c;
  };

  before(async () => {
    fleet = await startDemoFleet({ slow: [SLOW], failing: [FAILING], silent: [SILENT], slowMs: [600, 800] });
  });
  after(async () => {
    for (const c of clients.values()) c.end();
    await fleet.stop();
    assert.equal(existsSync(fleet.dir), false, 'the temporary folder is removed');
  });

  test('24 hosts named web01..web24 on loopback, with known_hosts and ssh_config entries', () => {
    assert.equal(fleet.hosts.length, 24);
    assert.deepEqual(
      fleet.hosts.map((h) => h.name),
      Array.from({ length: 24 }, (_, i) => `web${String(i + 1).padStart(2, '0')}`),
    );
    const known = readFileSync(fleet.knownHostsPath, 'utf8');
    const config = readFileSync(fleet.sshConfigPath, 'utf8');
    for (const h of fleet.hosts) {
      assert.match(h.address, /^127\./);
      assert.ok(known.includes(`[${h.address}]:${h.port} ssh-ed25519 AAAA`), h.name);
      assert.ok(config.includes(`Host ${h.name}\n  HostName ${h.address}\n  Port ${h.port}\n`), h.name);
    }
    assert.equal(new Set(fleet.hosts.map((h) => h.port)).size, 24, 'one port per host');
    assert.equal(new Set(fleet.hosts.map((h) => h.hostKey)).size, 24, 'one host key per host');
    assert.match(config, new RegExp(`IdentityFile ${fleet.clientKeyPath}\n`));
    assert.match(config, /StrictHostKeyChecking yes/);
  });

  test('exec returns stdout, stderr and the exit code, with the host environment', async () => {
    const c = await client(0);
    const r = await exec(c, 'echo "out $HOSTNAME $FLEETSH_DEMO_HOST"; echo err >&2; exit 3');
    assert.deepEqual([r.stdout, r.stderr, r.code, r.signal], ['out web01 web01\n', 'err\n', 3, undefined]);
    const ok = await exec(
      c,
      'hostname; for s in deploy.sh health-check.sh migrate.sh; do command -v $s; done',
    );
    assert.equal(ok.code, 0);
    const lines = ok.stdout.trim().split('\n');
    assert.equal(lines[0], 'web01');
    assert.deepEqual(
      lines.slice(1),
      ['deploy.sh', 'health-check.sh', 'migrate.sh'].map((s) => join(host(0).dir, '..', 'bin', s)),
    );
  });

  test('env requests reach the command; a pty request is ignored; a shell is refused', async () => {
    const c = await client(0);
    const r = await exec(c, 'echo "$GREETING"; [ -t 1 ] && echo tty || echo pipe', {
      env: { GREETING: 'hello there' },
      pty: true,
    });
    assert.equal(r.stdout.replace(/\r/g, ''), 'hello there\npipe\n');
    await assert.rejects(
      new Promise((resolve, reject) => c.shell((err, s) => (err ? reject(err) : resolve(s)))),
    );
  });

  test('stdin is passed to the command', async () => {
    const stream = await openExec(await client(0), 'tr a-z A-Z');
    const done = collect(stream);
    stream.end('shout\n');
    const r = await done;
    assert.equal(r.stdout, 'SHOUT\n');
    assert.equal(r.code, 0);
  });

  test('large output arrives whole, with stdout and stderr kept apart, before the exit status', async () => {
    const r = await exec(await client(0), 'seq 1 200000; seq 1 50000 >&2; exit 4');
    assert.equal(r.code, 4);
    assert.equal(r.stdout.split('\n').length, 200001);
    assert.ok(r.stdout.endsWith('\n199999\n200000\n'));
    assert.equal(r.stderr.split('\n').length, 50001);
  });

  test('each host runs in its own folder: files written on one host are not seen on another', async () => {
    const [a, b] = [await client(0), await client(4)];
    assert.equal((await exec(a, 'pwd')).stdout.trim(), host(0).dir);
    assert.equal((await exec(b, 'pwd')).stdout.trim(), host(4).dir);
    assert.equal((await exec(a, 'echo v1 > marker.txt && cat marker.txt')).stdout, 'v1\n');
    const other = await exec(b, 'cat marker.txt');
    assert.notEqual(other.code, 0);
    assert.equal(readFileSync(join(host(0).dir, 'marker.txt'), 'utf8'), 'v1\n');
  });

  test('demo scripts: deploy.sh records the version that health-check.sh reports', async () => {
    const c = await client(5);
    const d = await exec(c, 'deploy.sh --version=2.4.1');
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /\[web06\] deployed 2\.4\.1/);
    const h = await exec(c, 'health-check.sh');
    assert.deepEqual([h.code, h.stdout], [0, 'healthy: version=2.4.1 checks=3/3\n']);
    const bad = await exec(c, 'deploy.sh');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--version=X is required/);
  });

  test('the slow host takes longer than the others', async () => {
    const [fast, slow] = [await client(0), await client(SLOW)];
    const f = await exec(fast, 'true');
    const s = await exec(slow, 'true');
    assert.equal(s.code, 0);
    assert.ok(s.ms >= 600, `slow host took ${s.ms} ms`);
    assert.ok(s.ms - f.ms >= 200, `slow host ${s.ms} ms, normal host ${f.ms} ms`);
  });

  test("the failing host's health check fails with a message on stderr", async () => {
    const r = await exec(await client(FAILING), 'health-check.sh');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /503 Service Unavailable/);
    assert.equal((await exec(await client(0), 'health-check.sh')).code, 0);
  });

  test('the signal request kills a running sleep and reports exit-signal', async () => {
    const stream = await openExec(await client(6), 'sleep 30 & echo $!; wait');
    const done = collect(stream);
    const pid = Number(await firstLine(stream));
    assert.ok(alive(pid));
    stream.signal('TERM');
    const r = await done;
    assert.equal(r.code, null);
    assert.equal(r.signal, 'SIGTERM');
    assert.ok(await waitUntil(() => !alive(pid), 2000), 'the sleep is gone');
  });

  test('a command killed by a signal reports exit-signal, not an exit code', async () => {
    const r = await exec(await client(6), 'kill -KILL $$');
    assert.deepEqual([r.code, r.signal], [null, 'SIGKILL']);
  });

  test('closing the channel early kills the command', async () => {
    const stream = await openExec(await client(7), 'sleep 30 & echo $!; wait');
    const pid = Number(await firstLine(stream));
    assert.ok(alive(pid));
    stream.close();
    assert.ok(await waitUntil(() => !alive(pid), 3000), 'the sleep is gone');
  });

  test('a connection lost mid-command kills the command', async () => {
    const c = await connect(fleet, host(8));
    const stream = await openExec(c, 'sleep 30 & echo $!; wait');
    const pid = Number(await firstLine(stream));
    c.end();
    assert.ok(await waitUntil(() => !alive(pid), 3000), 'the sleep is gone');
  });

  test('every host but the silent one answers, all at once', async () => {
    const targets = fleet.hosts.filter((h) => !h.silent);
    const results = await Promise.all(
      targets.map(async (h) => {
        const c = await connect(fleet, h);
        try {
          return (await exec(c, 'hostname && sleep 0.2')).stdout.trim();
        } finally {
          c.end();
        }
      }),
    );
    assert.deepEqual(
      results,
      targets.map((h) => h.name),
    );
  });

  test('the silent host accepts TCP and never answers: the connection times out', async () => {
    const started = Date.now();
    await assert.rejects(connect(fleet, host(SILENT), { readyTimeout: 500 }), /timed out/i);
    assert.ok(Date.now() - started < 3000);
  });

  test('other client keys, other users, passwords and unknown host keys are refused', async () => {
    const other = generateKeyPair('intruder');
    await assert.rejects(connect(fleet, host(0), { privateKey: other.privateKey }), /authentication/i);
    await assert.rejects(
      connect(fleet, host(0), { privateKey: undefined, password: 'demo' }),
      /authentication/i,
    );
    await assert.rejects(connect(fleet, host(0), { username: 'root' }), /authentication/i);
    // The key of web01 is not the key of web02: a client checking web02's entry refuses web01.
    await assert.rejects(connect(fleet, { ...host(0), port: host(0).port }, { hostVerifier: () => false }));
  });

  test('sftp: upload into the host folder, read it back with exec; paths outside are refused', async () => {
    const c = await client(9);
    const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) =>
      c.sftp((err, s) => (err ? reject(err) : resolve(s))),
    );
    const p = <T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T | undefined> =>
      new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
    await p((cb) => sftp.mkdir('conf', cb));
    await p((cb) => sftp.writeFile('conf/app.tmp', 'port=8080\n', cb));
    await p((cb) => sftp.rename('conf/app.tmp', 'conf/app.conf', cb));
    const st = await p<ssh2.Stats>((cb) => sftp.stat('conf/app.conf', cb));
    assert.equal(st?.size, 10);
    const back = await p<Buffer>((cb) => sftp.readFile(`${host(9).dir}/conf/app.conf`, cb));
    assert.equal(back?.toString(), 'port=8080\n');
    const list = await p<ssh2.FileEntryWithStats[]>((cb) => sftp.readdir('conf', cb));
    assert.deepEqual(
      list?.map((e) => e.filename),
      ['app.conf'],
    );
    await assert.rejects(
      p((cb) => sftp.writeFile('/tmp/fleetsh-demo-escape', 'x', cb)),
      /outside|denied/i,
    );
    sftp.end();
    assert.equal((await exec(c, 'cat conf/app.conf')).stdout, 'port=8080\n');
  });

  test(
    'the system ssh client connects with the generated ssh_config',
    { skip: !existsSync('/usr/bin/ssh') },
    async () => {
      const { stdout } = await execFileP(
        '/usr/bin/ssh',
        ['-F', fleet.sshConfigPath, '-o', 'BatchMode=yes', 'web01', 'echo hi from $(hostname)'],
        { timeout: 15_000 },
      );
      assert.equal(stdout, 'hi from web01\n');
    },
  );
});

test('stop() kills every process the fleet started and lets the process exit', async () => {
  const fixture = join(import.meta.dirname, 'fixtures', 'start-stop.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let stoppedAt = 0;
  child.stdout.on('data', () => {
    if (!stoppedAt && out.includes('stopped\n')) stoppedAt = Date.now();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited;
  const exitedAt = Date.now();
  clearTimeout(timer);
  assert.equal(code, 0, err);
  assert.match(out, /stopped\n$/);
  assert.ok(exitedAt - stoppedAt < 2000, `exited ${exitedAt - stoppedAt} ms after stop() resolved`);
  const started = JSON.parse(out.split('\n')[0]!) as { dir: string; pids: number[] };
  for (const pid of started.pids) assert.ok(await waitUntil(() => !alive(pid), 2000), `pid ${pid} is gone`);
  assert.deepEqual(markedPids(started.dir), []);
  assert.equal(existsSync(started.dir), false);
});

test('bad options are refused without leaving anything behind', async () => {
  await assert.rejects(startDemoFleet({ count: 2, slow: [5] }), /slow index 5/);
  await assert.rejects(startDemoFleet({ count: 0 }), /count/);
});

test('generated keys always parse (ssh2 keygen sometimes writes a 31-byte ed25519 key)', () => {
  for (let i = 0; i < 600; i++) {
    const pair = generateKeyPair('k');
    assert.equal(pair.parsed.getPublicSSH().length, 51);
    assert.ok(!(ssh2.utils.parseKey(pair.privateKey) instanceof Error));
  }
});
