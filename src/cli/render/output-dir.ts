// --output-dir DIR: each host's stdout and stderr in full, as DIR/<host>.out and DIR/<host>.err,
// written as the bytes come, exactly (so output past the in-memory cap is kept too, and nothing is
// decoded, escaped or split). The host name is one safe path component, whatever it is.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { hostComponent } from '../../local/safe-name.js';
import type { OutputGroup } from '../../fleet/gather.js';
import { CliUsageError } from '../errors.js';

export interface OutputSource {
  on(event: 'server:start', listener: (e: { server: string }) => void): unknown;
  on(
    event: 'server:data',
    listener: (e: { server: string; stream: 'stdout' | 'stderr'; data: Buffer }) => void,
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
      file = createWriteStream(join(dir, `${hostComponent(host)}.${ext}`));
      files.set(key, file);
    }
    return file;
  };
  run.on('server:start', ({ server }) => {
    // Retries start again: a fresh pair per host, truncated once.
    open(server, 'out');
    open(server, 'err');
  });
  run.on('server:data', ({ server, stream, data }) => {
    open(server, stream === 'stdout' ? 'out' : 'err').write(data);
  });
  return {
    close: () =>
      Promise.all([...files.values()].map((f) => new Promise<void>((resolve) => f.end(resolve)))).then(
        () => undefined,
      ),
  };
}

/**
 * Where a gathered group's full output is, for the note under a group cut short in the summary:
 * the file (or the files, one a host) when --output-dir was given, else the flags that keep it.
 */
export function fullOutputIn(dir: string | undefined): (group: OutputGroup) => string {
  return (group) => {
    if (dir === undefined)
      return group.truncated ? '--output-dir DIR (more than --json keeps)' : '--output-dir DIR, or --json';
    return group.count === 1
      ? join(dir, `${hostComponent(group.hostList[0]!)}.out`)
      : `${join(dir, '<host>.out')}, one file a host`;
  };
}
