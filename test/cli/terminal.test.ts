// Terminal rendering under a real pseudo-terminal (tmux): the progress line is redrawn in place
// (never more than one on screen), colours appear on a terminal and not with NO_COLOR, the final
// screen holds the report and no progress-bar debris, and a hostile host's escape sequences are
// shown, not obeyed (unless --raw).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sshdAvailable, startFleet, type TestFleet } from '../harness/fleet.js';
import { CLI, ensureBuilt, HOSTILE, HOSTILE_SHOWN, scratch, waitFor } from './helpers.js';

const tmuxAvailable = spawnSync('tmux', ['-V']).status === 0;
const BAR = /\[[#.]{20}\] \d+\/\d+/g;

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

describe(
  'on a terminal',
  { skip: (!sshdAvailable() || !tmuxAvailable) && 'needs OpenSSH sshd and tmux' },
  () => {
    let fleet: TestFleet;
    const tmp = scratch();
    const sessions: string[] = [];

    before(async () => {
      ensureBuilt();
      fleet = await startFleet({ healthy: 6 });
    });
    after(async () => {
      for (const s of sessions) spawnSync('tmux', ['kill-session', '-t', s]);
      await fleet?.stop();
      tmp.cleanup();
    });

    /**
     * Starts fleetsh in a 120x30 tmux pane that stays open after it exits; returns the session name.
     * With `log`, every byte written to the pane is also appended to that file, from the start.
     */
    function start(args: string[], env: Record<string, string>, log?: string): string {
      const name = `fleetsh-test-${process.pid}-${sessions.length}`;
      sessions.push(name);
      const vars = Object.entries({ FLEETSH_STATE_FILE: tmp.stateFile, TERM: 'xterm-256color', ...env }).map(
        ([k, v]) => `${k}=${quote(v)}`,
      );
      // With a log, fleetsh waits for a key press until the pane is piped to the log.
      const cmd = `${log ? 'read _; ' : ''}env -u NO_COLOR -u FORCE_COLOR ${vars.join(' ')} ${quote(process.execPath)} ${quote(CLI)} ${args.map(quote).join(' ')}; echo "[exit $?]"`;
      tmux('new-session', '-d', '-x', '120', '-y', '30', '-s', name, cmd);
      tmux('set-option', '-t', name, 'remain-on-exit', 'on');
      if (log) {
        tmux('pipe-pane', '-o', '-t', name, `cat >> ${quote(log)}`);
        tmux('send-keys', '-t', name, 'Enter');
      }
      return name;
    }
    const capture = (name: string, escapes = false) =>
      tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', name);

    test('the progress line updates in place and the final screen is clean', async () => {
      const name = start(
        [
          'run',
          '-F',
          fleet.sshConfigPath,
          '-w',
          'h[01-06]',
          '-f',
          '2',
          '--',
          'echo tick; sleep 0.7; echo tock',
        ],
        {},
      );
      const bars = new Set<string>();
      await waitFor(
        () => {
          const screen = capture(name);
          const seen = screen.match(BAR) ?? [];
          assert.ok(seen.length <= 1, `more than one progress line on screen:\n${screen}`);
          for (const b of seen) bars.add(b);
          return screen.includes('[exit ');
        },
        30_000,
        'fleetsh to end',
      );
      assert.ok(bars.size >= 2, `the progress line changed in place (${[...bars].join(' | ')})`);
      const screen = capture(name);
      assert.match(screen, /\[exit 0\]/);
      assert.doesNotMatch(screen, BAR, 'no progress bar left on the final screen');
      assert.match(screen, /^6 hosts: 6 ok in /m);
      assert.doesNotMatch(screen, /^h\[01-06\] \(6\)$/m, 'the live lines are not shown again gathered');
      // Every live line starts at column 0: nothing was drawn over by the progress line.
      for (const line of screen.split('\n').filter((l) => /: +(tick|tock)$/.test(l)))
        assert.match(line, /^h0[1-6]: +t/);
      assert.match(capture(name, true), /\x1b\[\d+m/, 'colours on a terminal');
    });

    test('NO_COLOR: no colours on a terminal', async () => {
      const name = start(['run', '-F', fleet.sshConfigPath, '-w', 'h[01-02]', '--', 'echo x'], {
        NO_COLOR: '1',
      });
      await waitFor(() => capture(name).includes('[exit '), 20_000, 'fleetsh to end');
      const screen = capture(name, true);
      assert.match(screen, /2 hosts: 2 ok/);
      assert.doesNotMatch(screen, /\x1b\[(?!0?m)[\d;]*m/);
    });

    test('stdin on a terminal is not read: a command reading its input gets end of input at once', async () => {
      const name = start(
        ['run', '-F', fleet.sshConfigPath, '-w', 'h01', '--gather', '--', 'cat; echo "read to the end"'],
        {},
      );
      // Were the terminal the hosts' input, cat would wait for it and fleetsh would not end.
      await waitFor(() => capture(name).includes('[exit '), 20_000, 'fleetsh to end without input');
      const screen = capture(name);
      // --gather: the output at the end (a pane's first lines can be lost while tmux sets it up).
      assert.match(screen, /^h01 \(1\)\n-+\nread to the end$/m);
      assert.match(screen, /\[exit 0\]/);
    });

    describe('a hostile host', () => {
      /** HOSTILE on every host's stdout; h02 prints it on stderr too and fails, so its error quotes it. */
      const hostile = () =>
        `${HOSTILE}; case " $SSH_CONNECTION " in *" ${fleet.host('h02').address} "*) ${HOSTILE} >&2; exit 3;; esac`;
      const title = (name: string) => tmux('display', '-p', '-t', name, '#{pane_title}').trim();
      /** The bytes written to the pane so far (the pane's pipe may lag its screen). */
      const logged = (log: string) => {
        try {
          return readFileSync(log, 'latin1');
        } catch {
          return '';
        }
      };

      test('its escape sequences are shown, not obeyed: no new title, no forged line, no raw ESC, BEL or CR', async () => {
        const log = join(tmp.dir, 'hostile.log');
        const name = start(['run', '-F', fleet.sshConfigPath, '-w', 'h[01-02]', '--', hostile()], {}, log);
        await waitFor(() => logged(log).includes('[exit '), 30_000, 'fleetsh to end');
        const screen = capture(name);
        assert.match(screen, /\[exit 1\]/);
        assert.ok(screen.includes(`h01: ${HOSTILE_SHOWN}`), screen);
        assert.ok(screen.includes(`h02: ${HOSTILE_SHOWN}`), screen);
        assert.ok(screen.includes('\\x1b]0;PWNED'), screen);
        assert.doesNotMatch(screen, /^FAKE: ok/m, 'no forged line');
        assert.notEqual(title(name), 'PWNED', 'the title was not changed');
        // Every byte fleetsh wrote to the terminal: only its own colours, progress line and newlines.
        const bytes = logged(log);
        assert.ok(bytes.includes(HOSTILE_SHOWN), 'the log holds the whole output');
        assert.doesNotMatch(bytes, /\x07/, 'no BEL');
        assert.doesNotMatch(bytes, /\x1b(?!\[[\d;]*[mK])/, 'no ESC but SGR colours and erase-line');
        assert.doesNotMatch(bytes, /\r(?!\n|\x1b\[K)/, 'no CR but in CR LF and the progress redraw');
        assert.match(capture(name, true), /\x1b\[\d+m/, 'colours still on');
      });

      test('--raw passes its bytes through: the terminal obeys them', async () => {
        const log = join(tmp.dir, 'raw.log');
        const name = start(['run', '-F', fleet.sshConfigPath, '-w', 'h01', '--raw', '--', HOSTILE], {}, log);
        await waitFor(() => logged(log).includes('[exit '), 30_000, 'fleetsh to end');
        assert.ok(logged(log).includes('\x1b]0;PWNED\x07\x1b[2Jhidden\rFAKE: ok'));
        assert.equal(title(name), 'PWNED');
        assert.match(capture(name), /^FAKE: ok/m, 'the forged line, overwriting the real one');
      });
    });
  },
);

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
