// The one rule for environment variable names: `.env()` and the inventory's vars accept exactly the
// names it accepts, and those names reach a command's environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { $ } from '../../src/index.js';
import { parseInventory } from '../../src/inventory/index.js';
import { isEnvName } from '../../src/process/env.js';

test('letters, digits and _, not starting with a digit', () => {
  for (const name of ['A', '_', 'region', 'TIER_2', '_x9', 'a'.repeat(200)]) assert.ok(isEnvName(name), name);
  for (const name of ['', '9lives', 'bad-name', 'a.b', 'a b', 'é', 'A=B', '$A', 'a\n'])
    assert.ok(!isEnvName(name), JSON.stringify(name));
});

test('.env() and the inventory accept exactly the names the rule accepts', () => {
  const unit = fc.constantFrom('a', 'Z', '_', '0', '9', '-', '.', ' ', '=', 'é', '$');
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 6 }), (name) => {
      const env = { [name]: 'v' };
      const byCommand = accepts(() => $`true`.env(env));
      const inventory = parseInventory(`defaults: { vars: ${JSON.stringify(env)} }`);
      const byInventory = accepts(() => inventory.targetFor('h1'));
      assert.equal(byCommand, isEnvName(name));
      assert.equal(byInventory, isEnvName(name));
    }),
  );
});

test('an accepted name reaches the command', async () => {
  const r = await $`printf '%s %s' "$_x9" "$TIER_2"`.env({ _x9: 'one', TIER_2: 'two words' });
  assert.equal(r.stdout, 'one two words');
});

function accepts(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}
