// Ctrl-C the moment an inventory script has started, many times, beside `stress-ng --cpu 2` when
// the machine has it: fleetsh must end the script (and what it started) every time. The CLI once
// hooked its signal handlers only after the spawn returned; a SIGINT in between took Node's
// default action and left the script running (1 run in 40 here under load).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI } from '../test/cli/helpers.js';
import { figure } from './helpers.js';

const ROUNDS = 200;

function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Ctrl-C as an inventory script starts, under load', () => {
  let dir: string;
  let load: ReturnType<typeof spawn> | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetsh-inventory-interrupt-'));
    writeFileSync(
      join(dir, 'hang.sh'),
      '#!/bin/sh\necho $$ > hang.pid\nsleep 60 &\necho $! > child.pid\nwait\n',
    );
    chmodSync(join(dir, 'hang.sh'), 0o755);
    writeFileSync(join(dir, 'hang.yml'), 'groups:\n  slow: { command: ./hang.sh, commandTimeout: 60s }\n');
    if (spawnSync('stress-ng', ['--version'], { stdio: 'ignore' }).status === 0)
      load = spawn('stress-ng', ['--cpu', '2', '--timeout', '600s'], { stdio: 'ignore' });
  });
  after(() => {
    if (load?.pid) process.kill(load.pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${ROUNDS} rounds: the script and its child end every time`, { timeout: 600_000 }, async () => {
    const left: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const files = ['hang.pid', 'child.pid'].map((f) => join(dir, f));
      for (const f of files) rmSync(f, { force: true });
      const cli = spawn(process.execPath, [CLI, 'hosts', '-i', join(dir, 'hang.yml'), '-w', '@slow'], {
        cwd: dir,
        stdio: 'ignore',
        env: { ...process.env, FLEETSH_NO_AGENT: '1', FLEETSH_JOURNAL: join(dir, 'journal.db') },
      });
      const ended = new Promise<void>((r) => cli.once('exit', () => r()));
      const written = () => files.every((f) => existsSync(f) && readFileSync(f, 'utf8').trim() !== '');
      for (let t = 0; t < 600 && !written(); t++) await sleep(10);
      assert.ok(written(), `round ${i}: the script started`);
      cli.kill('SIGINT');
      await ended;
      const pids = files.map((f) => Number(readFileSync(f, 'utf8')));
      for (let t = 0; t < 150 && pids.some(alive); t++) await sleep(100);
      for (const pid of pids.filter(alive)) {
        left.push(`round ${i}: ${pid}`);
        process.kill(pid, 'SIGKILL');
      }
    }
    figure(`${ROUNDS} Ctrl-Cs as the script started; ${left.length} left a process running`);
    assert.deepEqual(left, []);
  });
});
