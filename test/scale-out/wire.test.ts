// What crosses NATS is checked on both sides: a job's target never holds a secret, and a worker
// refuses a job message that is malformed or carries one (messages are untrusted input).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobTarget, namesFor, parseJob, checkToken } from '../../src/scale-out/wire.js';

const job = (extra: object = {}) =>
  Buffer.from(
    JSON.stringify({
      v: 1,
      coord: 'c1',
      job: 'j1',
      host: 'web1',
      target: { host: 'web1' },
      command: 'true',
      ...extra,
    }),
  );

test('a target with a password, a passphrase, a key text or a Buffer is refused for a job; a plain one is copied', () => {
  assert.deepEqual(jobTarget('deploy@web1:2222'), { target: { host: 'deploy@web1:2222' } });
  assert.deepEqual(jobTarget({ host: 'web1', privateKey: '~/.ssh/id_ed25519', port: 22 }), {
    target: { host: 'web1', privateKey: '~/.ssh/id_ed25519', port: 22 },
  });
  assert.deepEqual(jobTarget({ host: 'web1', password: 'x' }), { refused: 'password' });
  assert.deepEqual(jobTarget({ host: 'web1', passphrase: 'x' }), { refused: 'passphrase' });
  assert.deepEqual(jobTarget({ host: 'web1', sudoPassword: 'x' }), { refused: 'sudoPassword' });
  assert.deepEqual(jobTarget({ host: 'web1', privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc' }), {
    refused: 'privateKey (the key text)',
  });
  assert.ok('refused' in jobTarget({ host: 'web1', privateKey: Buffer.from('key') }));
  assert.ok('refused' in jobTarget({ host: 'web1', lookup: () => {} }));
});

test('a worker reads a well-formed job, and refuses malformed ones and ones carrying a secret', () => {
  assert.equal(parseJob(job()).command, 'true');
  assert.throws(() => parseJob(job({ v: 2 })), /wire version 2/);
  assert.throws(() => parseJob(job({ command: 7 })), /without command/);
  assert.throws(() => parseJob(job({ coord: 'a.b' })), /job coord/);
  assert.throws(() => parseJob(job({ target: { host: 'web1', password: 'x' } })), /workers take no secret/);
  assert.throws(() => parseJob(job({ env: { 'A;rm -rf /': '1' } })), /bad variable/);
  assert.throws(() => parseJob(job({ env: { A: 1 } })), /bad variable/);
  assert.throws(() => parseJob(Buffer.from('not json')));
});

test("an upload job is checked too: its file's name, size, SHA-256, message count, destination and mode", () => {
  const upload = (extra: object = {}) => ({
    upload: { file: 'f1', size: 10, sha256: 'a'.repeat(64), chunks: 1, remote: '/etc/app.conf', ...extra },
    command: '',
  });
  assert.equal(parseJob(job(upload())).upload?.remote, '/etc/app.conf');
  assert.throws(() => parseJob(job(upload({ file: 'a.>' }))), /upload file/);
  assert.throws(() => parseJob(job(upload({ size: 64 * 1024 * 1024 + 1 }))), /bad size/);
  assert.throws(() => parseJob(job(upload({ size: -1 }))), /bad size/);
  assert.throws(() => parseJob(job(upload({ chunks: 1e9 }))), /chunk count/);
  assert.throws(() => parseJob(job(upload({ sha256: 'xyz' }))), /without a SHA-256/);
  assert.throws(() => parseJob(job(upload({ remote: '' }))), /remote path/);
  assert.throws(() => parseJob(job(upload({ remote: 'a\0b' }))), /remote path/);
  assert.throws(() => parseJob(job(upload({ mode: 0o17777 }))), /bad mode/);
  assert.throws(() => parseJob(job({ upload: 'x', command: '' })), /bad upload/);
  assert.equal(namesFor('team1').fileSubject('c1', 'f1'), 'team1.file.c1.f1');
});

test('zones and prefixes are one subject token each', () => {
  assert.equal(checkToken('eu-west_1', 'zone'), 'eu-west_1');
  for (const bad of ['', 'a.b', 'a b', '*', '>', 'x'.repeat(65)])
    assert.throws(() => checkToken(bad, 'zone'), /zone: expected 1 to 64 letters/);
  const n = namesFor('team1');
  assert.equal(n.jobSubject('eu'), 'team1.job.eu');
  assert.equal(n.jobStream, 'team1-jobs');
  assert.throws(() => namesFor('a.b'), /nats prefix/);
});
