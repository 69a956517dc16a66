// How an error that ends fleetsh is printed: its message (which can quote a host) is shown with
// control characters escaped, and the exit status follows its kind.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CliUsageError, describeError } from '../../src/cli/errors.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { ConnectionError, UsageError } from '../../src/process/errors.js';

describe('describeError', () => {
  test('a message quoting a host is printed with its control characters escaped', () => {
    const e = new ConnectionError('protocol', 'web1', 'the server said \x1b]0;PWNED\x07\rFAKE');
    const { text, code } = describeError(e, false);
    assert.equal(text, 'fleetsh: web1: SSH protocol error: the server said \\x1b]0;PWNED\\x07\\rFAKE');
    assert.equal(code, EXIT.unreachable);
    const internal = describeError(new Error('\x9b2J'), false);
    assert.match(internal.text, /^fleetsh: internal error: \\u009b2J\n/);
  });

  test('a usage error of the command line is a UsageError, and exits 64', () => {
    const e = new CliUsageError('--fanout: expected a number');
    assert.ok(e instanceof UsageError);
    assert.equal(e.kind, 'usage');
    assert.equal(describeError(e, false).code, EXIT.usage);
  });
});
