// The package's public API: what `import ... from 'fleetsh'` and 'fleetsh/inventory' give at run
// time, through the package's own exports map (a package may import itself by name), is exactly
// what docs/architecture.md lists under "The public API". A new public name is a promise to users:
// it is made on purpose, in both places.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ensureBuilt } from './cli/helpers.js';

/** The names listed in the code block after `<!-- public-api: <entry> -->` in docs/architecture.md. */
function documented(entry: string): string[] {
  const doc = readFileSync(new URL('../docs/architecture.md', import.meta.url), 'utf8');
  const at = doc.indexOf(`<!-- public-api: ${entry} -->`);
  assert.ok(at >= 0, `docs/architecture.md lists the public API of ${entry}`);
  const block = /```\n([\s\S]*?)```/.exec(doc.slice(at))!;
  return block[1]!.split(/\s+/).filter(Boolean).sort();
}

describe('the public API', () => {
  for (const entry of ['fleetsh', 'fleetsh/inventory']) {
    test(`${entry} exports what docs/architecture.md lists, and nothing else`, async () => {
      ensureBuilt();
      const names = Object.keys(await import(entry)).sort();
      assert.deepEqual(names, documented(entry));
    });
  }

  test("the library's main names work from the package", async () => {
    ensureBuilt();
    const pkg = 'fleetsh'; // by name, through the exports map (a variable: typecheck needs no dist/)
    const m = await import(pkg);
    assert.equal((await m.$`echo ${'from the package'}`).stdout, 'from the package\n');
    assert.equal(m.fold(['web1', 'web2', 'web3']), 'web[1-3]');
    assert.ok(new m.UsageError('x') instanceof m.FleetshError);
  });
});
