// Runs every test file under test/ with Node's own test runner (Node 20 has no glob for --test).
// `--stress` runs the slow, bounded stress cases under test-stress/ instead.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const stress = process.argv.includes('--stress');
const root = stress ? 'test-stress' : 'test';
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function find(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(find(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const files = find(root)
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under ${root}/`);
  process.exit(1);
}
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...files];
// Every CLI a test starts connects directly unless the test opts in to the agent (test/agent/),
// with a runtime folder of its own: no test leaves an agent behind in the user's.
const env = { ...process.env, FLEETSH_NO_AGENT: '1' };
const res = spawnSync(process.execPath, args, { stdio: 'inherit', env });
process.exit(res.status ?? 1);
