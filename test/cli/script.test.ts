// `fleetsh script -w HOSTS ./local.sh [ARGS...]` against real OpenSSH servers: the local script
// runs on every host through its #! interpreter, with its arguments (options included) as written,
// the report, flags and exit codes of `run`; what it cannot run is a usage error before anything runs.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { ensureBuilt, fleetsh, scratch } from './helpers.js';

describe('fleetsh script', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let fleet: TestFleet;
  const tmp = scratch();
  const env = { FLEETSH_STATE_FILE: tmp.stateFile };
  let conn: string[];
  const file = (name: string, text: string) => {
    const path = join(tmp.dir, name);
    writeFileSync(path, text);
    return path;
  };

  before(async () => {
    ensureBuilt();
    fleet = await startFleet({ healthy: 3 });
    conn = ['-F', fleet.sshConfigPath];
  });
  after(async () => {
    await fleet?.stop();
    tmp.cleanup();
  });

  test('runs on every host with its arguments as written, options after the script included', async () => {
    const script = file('check.sh', '#!/bin/bash\nprintf "[%s]" "$@"; echo " on $FLEETSH_HOST"\n');
    const r = await fleetsh(['script', ...conn, '-w', 'h[01-03]', script, '--verbose', 'a b', "it's"], {
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    for (const h of ['h01', 'h02', 'h03'])
      assert.match(r.stdout, new RegExp(`^${h}: +\\[--verbose\\]\\[a b\\]\\[it's\\] on ${h}$`, 'm'));
    assert.match(r.stdout, /^3 hosts: 3 ok/m);
  });

  test("run's flags and exit codes: -N, -S, @failed, --json", async () => {
    const fail = `case " $SSH_CONNECTION " in *" ${fleet.host('h03').address} "*) exit 6;; esac`;
    const script = file('fail.sh', `echo "from $FLEETSH_HOST"\n${fail}\n`);
    const r = await fleetsh(['script', ...conn, '-N', '-S', '-w', 'h[01-03]', script], { env });
    assert.equal(r.code, 6, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), ['from h01', 'from h02', 'from h03']);
    assert.match(r.stderr, /^failed: h03 \(1\)$/m);
    const again = await fleetsh(['script', ...conn, '--json', '-w', '@failed', script], { env });
    assert.equal(again.code, 1);
    assert.deepEqual(
      JSON.parse(again.stdout).hosts.map((h: { host: string; exitCode: number }) => [h.host, h.exitCode]),
      [['h03', 6]],
    );
  });

  test('an interpreter it cannot feed, or a missing script: exit 64, nothing runs', async () => {
    const tcl = file('x.tcl', '#!/usr/bin/tclsh\nputs hi\n');
    const r = await fleetsh(['script', ...conn, '-w', 'h01', tcl], { env });
    assert.equal(r.code, 64);
    assert.match(r.stderr, /cannot give its interpreter "tclsh" the program on stdin/);
    const missing = await fleetsh(['script', ...conn, '-w', 'h01', join(tmp.dir, 'nope.sh')], { env });
    assert.equal(missing.code, 64);
    assert.match(missing.stderr, /nope\.sh: cannot read it: no such file/);
  });

  test('--dry-run reads and checks the script but runs it nowhere', async () => {
    const marker = join(tmp.dir, 'ran-on-a-host');
    const script = file('touch.sh', `#!/bin/sh\ntouch ${marker}\n`);
    const r = await fleetsh(['script', ...conn, '--dry-run', '-w', 'h[01-02]', script], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^dry run of: script .*touch\.sh/m);
    assert.match(r.stdout, /nothing was run/);
    assert.equal(existsSync(marker), false, 'the script ran');
    const tcl = file('y.tcl', '#!/usr/bin/tclsh\nputs hi\n');
    const bad = await fleetsh(['script', ...conn, '--dry-run', '-w', 'h01', tcl], { env });
    assert.equal(bad.code, 64, bad.stdout + bad.stderr);
    const tty = await fleetsh(['script', ...conn, '--tty', '-w', 'h01', script], { env });
    assert.equal(tty.code, 64, tty.stdout + tty.stderr);
    assert.match(tty.stderr, /--tty would type the script on a terminal/);
    assert.equal(existsSync(marker), false, 'the script ran');
  });

  test('with -w - the hosts come from stdin and the script still goes to every host', async () => {
    const script = file('hi.sh', 'echo "hi from $FLEETSH_HOST"\n');
    const r = await fleetsh(['script', ...conn, '-w', '-', '--gather', script], { env, input: 'h01\nh02\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^  h01: h01$/m);
    assert.match(r.stdout, /^2 hosts: 2 ok/m);
  });
});
