// --output-dir DIR: each host's stdout and stderr in full, as DIR/<host>.out and DIR/<host>.err,
// written line by line as they come (so output past the in-memory cap is kept too).
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { CliUsageError } from '../errors.js';

export interface OutputSource {
  on(event: 'server:start', listener: (e: { server: string }) => void): unknown;
  on(
    event: 'server:output',
    listener: (e: { server: string; stream: 'stdout' | 'stderr'; line: string }) => void,
  ): unknown;
}

export interface OutputDir {
  /** Flushes and closes every file. */
  close(): Promise<void>;
}

export function writeOutputDir(run: OutputSource, dir: string): OutputDir {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new CliUsageError(`--output-dir: cannot create ${dir}: ${(e as Error).message}`);
  }
  const files = new Map<string, WriteStream>();
  const open = (host: string, ext: 'out' | 'err') => {
    const key = `${host}.${ext}`;
    let file = files.get(key);
    if (!file) {
      // A host name never holds a path separator, but a selection from a file could: keep it flat.
      file = createWriteStream(join(dir, key.replace(/[/\\]/g, '_')));
      files.set(key, file);
    }
    return file;
  };
  run.on('server:start', ({ server }) => {
    // Retries start again: a fresh pair per host, truncated once.
    open(server, 'out');
    open(server, 'err');
  });
  run.on('server:output', ({ server, stream, line }) => {
    open(server, stream === 'stdout' ? 'out' : 'err').write(line + '\n');
  });
  return {
    close: () =>
      Promise.all([...files.values()].map((f) => new Promise<void>((resolve) => f.end(resolve)))).then(
        () => undefined,
      ),
  };
}
