// The text of a dry run: every field a host's connection would use, the host key and what a run
// would do with it, files a sync would change, batches, who was contacted and how; names and
// messages from outside (a host name, a server's error) shown escaped; colours only when asked.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FleetPlan } from '../../src/fleet/plan.js';
import type { HostPlan, TargetPlan } from '../../src/fleet/plan-data.js';
import { palette, plain } from '../../src/render/palette.js';
import { planText } from '../../src/render/plan-text.js';

const connection: TargetPlan = {
  transportReason: { by: 'default', needs: [] },
  label: 'web1',
  user: 'deploy',
  hostname: '10.0.0.1',
  port: 2222,
  jump: [
    {
      label: 'bastion',
      user: 'jump',
      hostname: '10.0.0.9',
      port: 22,
      hostKey: {
        status: 'known',
        verdict: 'connect',
        policy: 'strict',
        name: 'bastion',
        key: { type: 'ssh-ed25519', fingerprint: 'SHA256:JUMP' },
        entry: { file: '/home/u/.ssh/known_hosts', line: 3, type: 'ssh-ed25519' },
        kind: null,
        reason: null,
      },
    },
  ],
  proxyCommand: null,
  auth: {
    agent: '/run/agent.sock',
    identitiesOnly: true,
    keys: [
      { label: '/home/u/.ssh/id_ed25519 (default identity)', type: 'ssh-ed25519', fingerprint: 'SHA256:ME' },
    ],
    skipped: [
      { label: '/home/u/.ssh/id_rsa (default identity)', reason: 'encrypted and no passphrase was given' },
    ],
    password: true,
    error: null,
  },
  hostKey: {
    status: 'unknown',
    verdict: 'record',
    policy: 'accept-new',
    name: '[10.0.0.1]:2222',
    key: { type: 'ssh-ed25519', fingerprint: 'SHA256:NEW' },
    entry: null,
    kind: null,
    reason: null,
  },
  configFiles: [],
  transport: 'ssh2',
  knownHostsFiles: [],
  contacted: [
    { host: 'bastion', how: 'login' },
    { host: 'web1', how: 'key-exchange' },
  ],
};

const ready: HostPlan = {
  host: 'web1',
  index: 0,
  status: 'ready',
  kind: null,
  reason: null,
  connection,
  files: [
    {
      local: 'a',
      remote: '/etc/app.conf',
      sha256: 'b'.repeat(64),
      current: 'a'.repeat(64),
      change: 'update',
    },
  ],
  notCompared: null,
  loggedIn: true,
};

const hostile: HostPlan = {
  host: 'evil\x1b]0;PWNED\x07',
  index: 1,
  status: 'unreachable',
  kind: 'protocol',
  reason: 'evil: the server said \x1b[2Jgoodbye',
  connection: null,
  files: null,
  notCompared: 'not compared',
  loggedIn: false,
};

const plan = new FleetPlan([ready, hostile], {
  action: 'copy app.conf /etc/app.conf --backup',
  batches: null,
  compared: true,
  wallMs: 1200,
});

describe('planText', () => {
  test('a host: address, the jump host, the agent then the keys in order, skipped keys, the host key and the file', () => {
    const text = planText(plan, plain);
    assert.ok(
      text.includes(
        [
          'web1: ready',
          '  address   deploy@10.0.0.1:2222',
          '  through   bastion (jump@10.0.0.9:22)',
          '  auth      ssh-agent /run/agent.sock (only the keys below: IdentitiesOnly)',
          '            /home/u/.ssh/id_ed25519 (default identity): ssh-ed25519 SHA256:ME',
          '            skipped /home/u/.ssh/id_rsa (default identity): encrypted and no passphrase was given',
          '            a password',
          '  jump key  bastion: known (/home/u/.ssh/known_hosts:3): ssh-ed25519 SHA256:JUMP',
          "  host key  unknown: ssh-ed25519 SHA256:NEW, not in known_hosts as [10.0.0.1]:2222; a run would record it (hostKeyPolicy 'accept-new')",
          '  file      /etc/app.conf: would be replaced (SHA-256 aaaaaaaaaaaa → bbbbbbbbbbbb), the old one kept as a backup',
        ].join('\n'),
      ),
      text,
    );
    assert.match(
      text,
      /^dry run of: copy app\.conf \/etc\/app\.conf --backup \(nothing is run but a read-only checksum per file\)$/m,
    );
    assert.match(text, /^files: a sync would change web1; could not compare evil\\x1b\]0;PWNED\\x07$/m);
    assert.match(
      text,
      /^contacted: logged in to reach the hosts behind them \(jump hosts\): bastion; logged in to read checksums \(sha256sum, read-only\): web1$/m,
    );
    assert.match(text, /^2 hosts: 1 ready, 1 unreachable in 1\.2 s; nothing was run but the checksums$/m);
  });

  test('names and messages from outside are shown escaped; colours only on request', () => {
    const text = planText(plan, plain);
    assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    assert.match(text, /^evil\\x1b\]0;PWNED\\x07: unreachable \(protocol\)$/m);
    assert.match(text, /^  why       evil: the server said \\x1b\[2Jgoodbye$/m);
    assert.equal(plan.toText(), text);
    const colored = planText(plan, palette(true));
    assert.match(colored, /\x1b\[32mready\x1b\[39m/);
    assert.doesNotMatch(colored, /\x1b\]0;PWNED/);
  });
});
