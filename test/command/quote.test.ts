import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { $, quote, raw, UsageError } from '../../src/index.js';
import { buildCommand } from '../../src/command/template.js';

/** What a real POSIX shell prints for `printf %s <quoted value>`. */
function roundTrip(values: string[]): string[] {
  // One shell for many values: each printed, then a NUL separator.
  const script = values.map((v) => `printf '%s\\0' ${quote(v)}`).join('\n');
  const res = spawnSync('/bin/sh', ['-c', script], { maxBuffer: 64 * 1024 * 1024 });
  assert.equal(res.status, 0, res.stderr.toString());
  const parts = res.stdout.toString('utf8').split('\0');
  parts.pop();
  return parts;
}

const HOSTILE = [
  "it's",
  '"double"',
  "''",
  '$(touch /tmp/fleetsh-pwned)',
  '`touch /tmp/fleetsh-pwned`',
  'a\nb\nc',
  '; rm -rf /',
  'a && b || c',
  '* ? [a-z] {1,2}',
  '~root',
  'FOO=bar',
  '-n',
  '--help',
  '',
  ' ',
  '\t',
  'héllo wörld ✓ 日本 🚀',
  '$HOME ${PATH} $1 $@ $*',
  '\\ \\n \\\\',
  '!history',
  '#comment',
  '<in >out 2>&1 |pipe',
  "'; echo injected; '",
  'x'.repeat(64 * 1024),
  "'".repeat(1000),
];

describe('quote', () => {
  it('leaves plain words alone and quotes the rest', () => {
    assert.equal(quote('web1.example.com'), 'web1.example.com');
    assert.equal(quote('/etc/nginx/nginx.conf'), '/etc/nginx/nginx.conf');
    assert.equal(quote("it's"), `'it'\\''s'`);
    assert.equal(quote(''), "''");
    assert.equal(quote('FOO=bar'), "'FOO=bar'");
  });

  it('brings every hostile value back byte for byte from a real shell', () => {
    assert.deepEqual(roundTrip(HOSTILE), HOSTILE);
  });

  it('round-trips random strings (property)', () => {
    // Shells cannot carry NUL bytes in arguments; everything else must survive.
    const noNul = fc.string({ unit: 'binary', maxLength: 200 }).map((s) => s.replace(/\0/g, ''));
    fc.assert(
      fc.property(fc.array(noNul, { minLength: 1, maxLength: 30 }), (values) => {
        assert.deepEqual(roundTrip(values), values);
      }),
      { numRuns: 60 },
    );
  });
});

describe('command templates', () => {
  const t = (strings: TemplateStringsArray, ...values: unknown[]) => buildCommand(strings, values);

  it('quotes each value as one word and arrays as several', () => {
    assert.equal(t`cp ${'my file'} ${'my file'}.backup`, `cp 'my file' 'my file'.backup`);
    assert.equal(t`ls ${['a b', 'c']}`, `ls 'a b' c`);
    assert.equal(t`sleep ${1.5}`, 'sleep 1.5');
    assert.equal(t`echo ${[]}`, 'echo ');
  });

  it('runs a sole interpolated string as the command line', () => {
    assert.equal(t`${'systemctl status nginx | head -1'}`, 'systemctl status nginx | head -1');
    assert.equal(t`  ${'uptime'}  `, 'uptime');
    // With literal text around it, the value is one quoted word again.
    assert.equal(t`echo ${'a | b'}`, `echo 'a | b'`);
  });

  it('inserts raw text unquoted', () => {
    assert.equal(t`ls ${raw('*.log')} ${'*.txt'}`, `ls *.log '*.txt'`);
  });

  it('names the position of an undefined, null or object value', () => {
    assert.throws(() => t`echo ${'a'} ${undefined}`, (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /value 2 of the command template is undefined/);
      return true;
    });
    assert.throws(() => t`echo ${null}`, /value 1 .* is null/);
    assert.throws(() => t`echo ${{ a: 1 }}`, /value 1 .* is an object/);
    assert.throws(() => t`echo ${NaN}`, /finite number/);
    assert.throws(() => t`${''}`, /empty/);
  });

  it('interpolates a previous result as its trimmed stdout, and refuses an unfinished command', async () => {
    const name = await $`printf '%s\n' "my host"`;
    assert.equal(t`echo ${name}`, `echo 'my host'`);
    const pending = $`echo never`;
    assert.throws(() => t`echo ${pending}`, /has not finished: await it first/);
  });

  it('throws before running anything when a value is bad', () => {
    assert.throws(() => $`touch ${undefined}`, UsageError);
  });
});
