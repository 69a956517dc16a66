// fleet.script(): a local script run on every host without copying it, through the interpreter its
// #! line names, reading the program from stdin, with the arguments quoted. Against real sshd for
// sh, bash, python3 and perl; the command line for each known interpreter; refusals.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fleet } from '../../src/fleet/fleet.js';
import { sshConnect } from '../../src/fleet/connect.js';
import { interpreter, localScript } from '../../src/fleet/script.js';
import type { SshFunction } from '../../src/ssh/shell.js';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { sshFor } from '../ssh/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'fleetsh-script-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function script(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
const has = (program: string) => spawnSync(program, ['--version'], { stdio: 'ignore' }).status === 0;

test('the command line for each known interpreter: the program from stdin, then the arguments', () => {
  const cases: [string, string][] = [
    ['echo hi\n', 'sh -s --'],
    ['#!/bin/sh\n', '/bin/sh -s --'],
    ['#!/bin/bash -e\n', '/bin/bash -e -s --'],
    ['#! /usr/bin/zsh\r\n', '/usr/bin/zsh -s --'],
    ['#!/bin/dash\n', '/bin/dash -s --'],
    ['#!/usr/bin/env bash\n', '/usr/bin/env bash -s --'],
    ['#!/usr/bin/env python3\n', '/usr/bin/env python3 -'],
    ['#!/usr/bin/env -S python3 -u\n', '/usr/bin/env python3 -u -'],
    ['#!/usr/bin/python3.11\n', '/usr/bin/python3.11 -'],
    ['#!/usr/bin/perl -w\n', '/usr/bin/perl -w -'],
    ['#!/usr/bin/env ruby\n', '/usr/bin/env ruby -'],
    ['#!/usr/bin/env node\n', '/usr/bin/env node -'],
  ];
  for (const [text, words] of cases) {
    assert.equal(interpreter('x', Buffer.from(text)).join(' '), words, JSON.stringify(text));
  }
  const s = localScript(script('args.sh', '#!/bin/bash\n'), ['a b', "it's", '-v', '$HOME']);
  assert.equal(s.command, `/bin/bash -s -- 'a b' 'it'\\''s' -v '$HOME'`);
});

test('an interpreter fleetsh cannot feed, a binary or a missing file is refused with what to do', () => {
  assert.throws(
    () => localScript(script('x.tcl', '#!/usr/bin/tclsh\nputs hi\n')),
    /x\.tcl: fleetsh cannot give its interpreter "tclsh" the program on stdin \(it knows sh, bash.*\); copy the script to the hosts/,
  );
  assert.throws(() => localScript(script('awk', '#!/usr/bin/awk -f\n')), /interpreter "awk"/);
  assert.throws(() => localScript(script('empty-env', '#!/usr/bin/env\n')), /cannot tell the interpreter/);
  assert.throws(
    () => localScript(script('a.out', '\x7fELF\x02\x01\x01\x00\x00')),
    /not a script \(no #! line, and it holds NUL bytes\)/,
  );
  assert.throws(() => localScript(join(dir, 'missing.sh')), /missing\.sh: cannot read it: no such file/);
});

describe('fleet.script against real sshd', { skip: !sshdAvailable() && 'OpenSSH sshd not installed' }, () => {
  let tf: TestFleet;
  let ssh: SshFunction;
  const run = (file: string, args: string[] = []) =>
    fleet(
      tf.healthy.map((h) => ({ host: h.name, sshConfig: tf.sshConfigPath })),
      { connect: sshConnect(ssh) },
    ).script(file, args);

  before(async () => {
    tf = await startFleet({ healthy: 3 });
    ssh = sshFor(tf);
  });
  after(async () => {
    await ssh?.close();
    await tf?.stop();
  });

  test('a bash script gets its arguments as written, and FLEETSH_HOST', async () => {
    const file = script(
      'args.sh',
      '#!/bin/bash\nset -u\nprintf "<%s>" "$@"; echo\necho "$FLEETSH_HOST ${BASH_VERSION:+bash}"\n',
    );
    const report = await run(file, ['a b', "it's", '-v', '$HOME', '']);
    assert.equal(report.counts.ok, 3, report.toText());
    for (const h of report.hosts) {
      const [args, who] = h.stdout!.split('\n');
      assert.equal(args, `<a b><it's><-v><$HOME><>`);
      assert.equal(who, `${h.host} bash`);
    }
  });

  test("no #! line runs under sh; exit statuses are the script's", async () => {
    const file = script('plain', 'echo "args: $# $1"\nexit 3\n');
    const report = await run(file, ['one']);
    assert.equal(report.counts.failed, 3);
    for (const h of report.hosts) {
      assert.equal(h.stdout, 'args: 1 one\n');
      assert.equal(h.exitCode, 3);
    }
  });

  test(
    'python3 and perl read the program from stdin and get the arguments',
    { skip: !has('python3') && 'no python3' },
    async () => {
      const py = script(
        'p.py',
        '#!/usr/bin/env python3\nimport os, sys\nprint(sys.argv[1:], os.environ["FLEETSH_HOST"])\n',
      );
      const report = await run(py, ['x y', '--flag']);
      assert.equal(report.counts.ok, 3, report.toText());
      for (const h of report.hosts) assert.equal(h.stdout, `['x y', '--flag'] ${h.host}\n`);
      if (!has('perl')) return;
      const pl = script('p.pl', '#!/usr/bin/perl -w\nprint join("|", @ARGV), "\\n";\n');
      const perl = await run(pl, ['-a', 'b c']);
      for (const h of perl.hosts) assert.equal(h.stdout, '-a|b c\n');
    },
  );
});
