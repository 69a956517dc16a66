// ssh2's SFTP session started sooner: INIT right behind the subsystem request, the session ready on
// the server's VERSION without waiting for limits@openssh.com. Against real sshd with ssh2's own
// debug trace (and ssh2 unchanged as the control), and with a stand-in for the orders a server
// could answer in.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { SFTPWrapper } from 'ssh2';
import { loadSsh2 } from '../../src/ssh/ssh2-load.js';
import { startSftpSooner } from '../../src/ssh/ssh2-sftp-start.js';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const BOUND_MS = 30_000;

interface Started {
  trace: string[];
  /** At the moment ssh2 handed the session over. */
  limitsPending: boolean;
  maxOpenHandles: unknown;
  sftp: SFTPWrapper;
  end(): void;
}

describe('an SFTP session started sooner (real sshd)', { skip }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet({ healthy: 1 });
  });
  after(async () => {
    await fleet?.stop();
  });

  async function start(sooner: boolean): Promise<Started> {
    const { Client } = await loadSsh2();
    const host = fleet.healthy[0]!;
    const client = new Client();
    const trace: string[] = [];
    const timer = setTimeout(() => client.destroy(), BOUND_MS);
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('ready', resolve).once('error', reject);
        client.connect({
          host: host.address,
          port: host.port,
          username: fleet.user,
          privateKey: readFileSync(fleet.clientKeyPath),
          hostVerifier: () => true, // loopback test host
          debug: (line: string) => trace.push(line),
        });
        if (sooner) startSftpSooner(client);
      });
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
        client.sftp((err, s) => (err ? reject(err) : resolve(s))),
      );
      const internals = sftp as unknown as {
        _requests: Record<string, { extended?: string }>;
        maxOpenHandles: unknown;
      };
      return {
        trace,
        limitsPending: Object.values(internals._requests).some((r) => r.extended === 'limits@openssh.com'),
        maxOpenHandles: internals.maxOpenHandles,
        sftp,
        end: () => client.end(),
      };
    } catch (e) {
      client.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Where the INIT (9 bytes of channel data) went out, and where the subsystem's success came in. */
  function order(trace: string[]) {
    const request = trace.findIndex((l) => l.includes('subsystem: sftp'));
    const init = trace.findIndex(
      (l, i) => i > request && /Outbound: Sending CHANNEL_DATA \(r:\d+, 9\)/.test(l),
    );
    const success = trace.findIndex((l, i) => i > request && l.includes('Inbound: CHANNEL_SUCCESS'));
    assert.ok(request >= 0 && init >= 0 && success >= 0, trace.join('\n'));
    return { init, success };
  }

  async function roundTrip(sftp: SFTPWrapper): Promise<void> {
    const path = `${fleet.dir}/sooner-${Math.random().toString(16).slice(2)}`;
    await new Promise<void>((resolve, reject) =>
      sftp.writeFile(path, 'payload', (err) => (err ? reject(err) : resolve())),
    );
    assert.equal(readFileSync(path, 'utf8'), 'payload');
  }

  test('ssh2 unchanged (the control): INIT after the success, ready once the limits came', async () => {
    const s = await start(false);
    try {
      const { init, success } = order(s.trace);
      assert.ok(init > success, 'ssh2 waits for the subsystem before its INIT');
      assert.equal(s.limitsPending, false);
      assert.equal(typeof s.maxOpenHandles, 'number');
      await roundTrip(s.sftp);
    } finally {
      s.end();
    }
  });

  test('INIT goes before the success, the session is ready before the limits, and they apply when they come', async () => {
    const s = await start(true);
    try {
      const { init, success } = order(s.trace);
      assert.ok(init < success, `INIT right behind the request:\n${s.trace.join('\n')}`);
      assert.equal(s.limitsPending, true, 'ready on VERSION, the limits still asked');
      assert.equal(s.maxOpenHandles, undefined);
      assert.ok(
        (s.sftp as unknown as { _extensions: Record<string, string> })._extensions['fsync@openssh.com'],
      );
      await roundTrip(s.sftp);
      // The limits were answered before the writeFile's requests (the server answers in order).
      assert.equal(typeof (s.sftp as unknown as { maxOpenHandles: unknown }).maxOpenHandles, 'number');
    } finally {
      s.end();
    }
  });
});

describe('startSftpSooner with a stand-in for ssh2', () => {
  /** A client whose subsystem() records the request and an SFTP object as ssh2 makes one. */
  function fakeClient() {
    const sent: string[] = [];
    const sftp = Object.assign(new EventEmitter(), {
      type: 'session',
      outgoing: { id: 7 },
      _version: -1,
      _requests: {},
      _callbacks: [] as Array<(failed: unknown) => void>,
      _init() {
        sent.push('INIT');
      },
      push(data: Buffer | null) {
        if (data) this._version = 3;
      },
    });
    const proto = {
      subsystem(chan: number, name: string) {
        sent.push(`subsystem ${name} ${chan}`);
      },
    };
    const client = { _protocol: proto, _chanMgr: { _channels: { 0: sftp } } };
    /** As ssh2's client.sftp(): queue the answer's callback, then ask. */
    const ask = (onAnswer: (failed: unknown) => void) => {
      sftp._callbacks.push(onAnswer);
      proto.subsystem(7, 'sftp');
    };
    return { client, sftp, sent, ask };
  }

  test('VERSION before the success: ready comes once ssh2 listens', () => {
    const f = fakeClient();
    startSftpSooner(f.client as never);
    let ready = 0;
    f.ask((failed) => {
      assert.equal(failed, false);
      f.sftp.on('ready', () => ready++);
    });
    assert.deepEqual(f.sent, ['subsystem sftp 7', 'INIT']);
    f.sftp.push(Buffer.from('version'));
    assert.equal(ready, 0);
    f.sftp._callbacks.shift()!(false);
    assert.equal(ready, 1);
  });

  test('success then VERSION: one ready; a refused subsystem: its error and no ready', () => {
    const f = fakeClient();
    startSftpSooner(f.client as never);
    let ready = 0;
    f.ask(() => f.sftp.on('ready', () => ready++));
    f.sftp._callbacks.shift()!(false);
    assert.equal(ready, 0, 'no VERSION yet');
    f.sftp.push(Buffer.from('version'));
    f.sftp.push(Buffer.from('more'));
    assert.equal(ready, 1);

    const g = fakeClient();
    startSftpSooner(g.client as never);
    let failure: unknown;
    g.ask((failed) => (failure = failed));
    g.sftp.on('ready', () => assert.fail('no ready after a refusal'));
    g.sftp._callbacks.shift()!(true);
    g.sftp.push(Buffer.from('version'));
    assert.equal(failure, true);
  });

  test('other subsystems and clients without these internals are left as they were', () => {
    const f = fakeClient();
    startSftpSooner(f.client as never);
    f.sftp._callbacks.push(() => {});
    f.client._protocol.subsystem(7, 'netconf');
    assert.deepEqual(f.sent, ['subsystem netconf 7']);
    startSftpSooner({} as never);
    startSftpSooner({ _protocol: {} } as never);
  });
});
