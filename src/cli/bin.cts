#!/usr/bin/env node
// The `fleetsh` executable. scripts/bundle.mjs bundles the CLI and its dependencies into one file,
// dist/fleetsh.cjs, and leaves V8's code cache for it beside it; this file runs the bundle through
// that cache, so a start-up neither resolves and reads a hundred modules nor compiles a megabyte of
// JavaScript (docs/benchmarks.md has the figures). A tsc-only build has no bundle: then the CLI's
// modules run as they are.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

type Main = (argv: string[]) => Promise<void>;

const BUNDLE = join(__dirname, '..', 'fleetsh.cjs');
const CACHE = `${BUNDLE}.v8-cache`;

function tryRead(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Writes the code cache when it was missing or made by another Node; a read-only install keeps none. */
function saveCache(script: Script): void {
  const tmp = `${CACHE}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, CACHE);
  } catch {
    // A cache is only a speed-up: without one the next start compiles again.
  }
}

function loadBundle(): Main | undefined {
  const source = tryRead(BUNDLE);
  if (!source) return undefined;
  const cachedData = tryRead(CACHE);
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source.toString('latin1')}\n})`;
  const script = new Script(wrapped, { filename: BUNDLE, cachedData });
  // Saved at exit rather than now, so the functions this run compiled are in the cache too.
  if (!cachedData || script.cachedDataRejected) process.once('exit', () => saveCache(script));
  const mod = { exports: {} as { main?: Main } };
  script.runInThisContext()(mod.exports, createRequire(BUNDLE), mod, BUNDLE, dirname(BUNDLE));
  return mod.exports.main;
}

const main: Main = loadBundle() ?? (async (argv) => (await import('./main.js')).main(argv));
void main(process.argv);
