// fleet.plan(), the dry run of a fleet: each host judged as a run would meet it, from what its
// transport says (canned answers on local shells here; real sshd below, with the harness's faults);
// `compare` tells which hosts a sync would change, and nothing on any host changes; $.rolling.plan
// shows the batches. Nothing the dry run may not do happens: no command of the run, no file touched.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { sha256File } from '../../src/fleet/files.js';
import type { HostKeyPlan, TargetPlan } from '../../src/fleet/plan-data.js';
import type { Connect, FleetShell } from '../../src/fleet/target.js';
import { $ } from '../../src/index.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { fakeFleet, makeDirs, type FakeFleet } from './helpers.js';

const key = (patch: Partial<HostKeyPlan> = {}): HostKeyPlan => ({
  status: 'known',
  verdict: 'connect',
  policy: 'strict',
  name: 'x',
  key: { type: 'ssh-ed25519', fingerprint: 'SHA256:abc' },
  entry: { file: '/k', line: 1, type: 'ssh-ed25519' },
  kind: null,
  reason: null,
  ...patch,
});

const target = (label: string, patch: Partial<TargetPlan> = {}): TargetPlan => ({
  transportReason: { by: 'default', needs: [] },
  label,
  user: 'deploy',
  hostname: `${label}.example`,
  port: 22,
  jump: [],
  proxyCommand: null,
  auth: { agent: null, identitiesOnly: false, keys: [], skipped: [], password: false, error: null },
  hostKey: key(),
  configFiles: [],
  transport: 'ssh2',
  knownHostsFiles: ['/k'],
  contacted: [{ host: label, how: 'key-exchange' }],
  ...patch,
});

describe('fleet.plan over a transport that answers inspect()', () => {
  let f: FakeFleet;
  const canned: Record<string, TargetPlan> = {};
  let connect: Connect;
  before(async () => {
    f = await fakeFleet();
    await makeDirs(f, ['a', 'b', 'c', 'd', 'e', 'f']);
    const jumpKey = key({
      status: 'changed',
      verdict: 'refuse',
      entry: { file: '/k', line: 9, type: 'ssh-rsa' },
    });
    Object.assign(canned, {
      a: target('a'),
      b: target('b', {
        hostKey: key({ status: 'unknown', verdict: 'record', policy: 'accept-new', entry: null }),
      }),
      c: target('c', {
        jump: [{ label: 'bastion', user: 'j', hostname: 'bastion.example', port: 22, hostKey: jumpKey }],
        hostKey: key({
          status: 'not-checked',
          verdict: null,
          key: null,
          entry: null,
          reason: 'after the jump',
        }),
      }),
      d: target('d', { auth: { ...target('d').auth, error: 'd: the privateKey option: no such file' } }),
      e: target('e', {
        hostKey: key({
          status: 'unreachable',
          verdict: null,
          key: null,
          kind: 'refused',
          reason: 'e: refused',
        }),
      }),
    });
    connect = (t, o) => {
      const shell = f.connect(t, o);
      const name = typeof t === 'string' ? t : t.host;
      return canned[name]
        ? (Object.assign(shell, { inspect: async () => canned[name] }) as FleetShell)
        : shell;
    };
  });
  after(() => f.cleanup());

  test('each host judged as a run would meet it, by the first hop that would stop it', async () => {
    const p = await fleet(['a', 'b', 'c', 'd', 'e', 'f'], { connect }).plan({ action: 'run true' });
    assert.deepEqual(
      p.hosts.map((h) => [h.host, h.status, h.kind]),
      [
        ['a', 'ready', null],
        ['b', 'ready', null],
        ['c', 'host-key', 'changed-host-key'],
        ['d', 'unreachable', 'auth'],
        ['e', 'unreachable', 'refused'],
        ['f', 'not-checked', null],
      ],
    );
    assert.match(
      p.hosts[2]!.reason!,
      /^jump host bastion: its ssh-ed25519 key SHA256:abc is not the ssh-rsa key recorded .* at \/k:9/,
    );
    assert.match(p.hosts[5]!.reason!, /cannot say what it would use/);
    assert.deepEqual(p.counts, { total: 6, ready: 2, 'host-key': 1, unreachable: 2, 'not-checked': 1 });
    assert.deepEqual(p.sets, { ready: 'a,b', 'host-key': 'c', unreachable: 'd,e', 'not-checked': 'f' });
    assert.equal(p.ok, false);
    assert.equal(p.action, 'run true');
    assert.equal(p.contacted.keyExchange, 'a,b,c,d,e');
    const text = p.toText();
    assert.match(text, /^dry run of: run true \(nothing is run\)$/m);
    assert.match(
      text,
      /^6 hosts: 2 ready, 1 host key refused, 2 unreachable, 1 not checked in .*; nothing was run$/m,
    );
    const json = JSON.parse(JSON.stringify(p));
    assert.equal(json.hosts[0].connection.hostname, 'a.example');
  });

  test('a cancel before the start leaves every host not checked', async () => {
    const ac = new AbortController();
    ac.abort('interrupted');
    const p = await fleet(['a', 'b'], { connect }).plan({ signal: ac.signal });
    assert.deepEqual(
      p.hosts.map((h) => [h.status, h.kind, h.reason]),
      [
        ['not-checked', 'cancelled', 'not checked: interrupted'],
        ['not-checked', 'cancelled', 'not checked: interrupted'],
      ],
    );
    assert.equal(p.ok, true, 'nothing known to be wrong');
  });
});

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';

describe('fleet.plan against real sshd', { skip }, () => {
  let tf: TestFleet;
  const t = (host: string, extra: object = {}) => ({ host, sshConfig: tf.sshConfigPath, ...extra });
  before(async () => {
    tf = await startFleet({ healthy: 3, faults: ['dead-port', 'black-hole', 'changed-key'] });
  });
  after(async () => {
    await $.close();
    await tf?.stop();
  });

  test('known, changed, unknown, refused, black hole and a host behind a jump host, with nothing run', async () => {
    const empty = join(tf.dir, 'known_hosts.empty');
    writeFileSync(empty, '');
    const p = await $.fleet([
      t('h01'),
      t('h-changed-key'),
      t('h02', { knownHosts: empty, name: 'h02-unknown' }),
      t('h-dead-port'),
      t('h-black-hole', { connectTimeout: '1s' }),
      t('h03', { jump: 'h01', name: 'h03-behind' }),
    ]).plan();
    assert.deepEqual(
      p.hosts.map((h) => [h.host, h.status, h.kind]),
      [
        ['h01', 'ready', null],
        ['h-changed-key', 'host-key', 'changed-host-key'],
        ['h02-unknown', 'host-key', 'unknown-host-key'],
        ['h-dead-port', 'unreachable', 'refused'],
        ['h-black-hole', 'unreachable', 'connect-timeout'],
        ['h03-behind', 'ready', null],
      ],
    );
    assert.deepEqual(p.contacted, {
      keyExchange: 'h-black-hole,h-changed-key,h-dead-port,h[02-03]',
      login: 'h01',
      checksum: '',
    });
    assert.equal(readFileSync(empty, 'utf8'), '');
  });

  test('compare: which hosts a sync would change, create or leave alone; no file on any host changes', async () => {
    const dirOf = (h: string) => join(tf.dir, 'hosts', h);
    const local = join(tf.dir, 'app.conf.new');
    await writeFile(local, 'new\n');
    for (const h of ['h01', 'h02', 'h03']) await mkdir(dirOf(h), { recursive: true });
    await writeFile(join(dirOf('h01'), 'app.conf'), 'new\n');
    await writeFile(join(dirOf('h02'), 'app.conf'), 'old\n');
    const p = await $.fleet([t('h01'), t('h02'), t('h03'), t('h-dead-port')]).plan({
      compare: { local, remote: (host) => join(dirOf(host), 'app.conf') },
    });
    assert.deepEqual(
      p.hosts.map((h) => h.files?.map((f) => f.change) ?? h.notCompared),
      [['unchanged'], ['update'], ['create'], p.hosts[3]!.notCompared],
    );
    assert.match(p.hosts[3]!.notCompared!, /not compared: h-dead-port: connection refused/);
    assert.equal(p.hosts[1]!.files![0]!.current, await sha256File(join(dirOf('h02'), 'app.conf')));
    assert.deepEqual(p.changes, { change: 'h[02-03]', unchanged: 'h01', notCompared: 'h-dead-port' });
    assert.equal(p.contacted.checksum, 'h[01-03]');
    assert.deepEqual(await readdir(dirOf('h02')), ['app.conf'], 'no backup made');
    assert.equal(readFileSync(join(dirOf('h02'), 'app.conf'), 'utf8'), 'old\n');
    assert.ok(!existsSync(join(dirOf('h03'), 'app.conf')), 'nothing created');
  });

  test('$.rolling.plan: the batches in order, each host once, and no command run', async () => {
    const marker = join(tf.dir, 'rolled');
    const p = await $.rolling.plan(
      {
        phases: [
          { name: 'db', targets: [t('h01')], command: `touch ${marker}` },
          {
            name: 'web',
            targets: [t('h02'), t('h03'), t('h01')],
            command: `touch ${marker}`,
            batches: [1, '100%'],
          },
        ],
      },
      { action: 'deploy' },
    );
    assert.deepEqual(
      p.batches!.map((b) => [b.phase, b.number, b.hosts, b.count]),
      [
        ['db', 1, 'h01', 1],
        ['web', 1, 'h02', 1],
        ['web', 2, 'h[01,03]', 2],
      ],
    );
    assert.deepEqual(
      p.hosts.map((h) => [h.host, h.status]),
      [
        ['h01', 'ready'],
        ['h02', 'ready'],
        ['h03', 'ready'],
      ],
    );
    assert.ok(!existsSync(marker));
  });
});
