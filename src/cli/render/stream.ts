// Live output: each line as it comes, prefixed with its host (`web1: ...`), stdout lines on stdout
// and stderr lines on stderr, host names aligned and coloured on a terminal.
import type { Palette } from '../color.js';
import type { Terminal } from './terminal.js';

export interface LineSource {
  on(
    event: 'server:output',
    listener: (e: { server: string; stream: 'stdout' | 'stderr'; line: string }) => void,
  ): unknown;
}

export function streamLines(
  run: LineSource,
  hosts: readonly string[],
  term: Terminal,
  colors: Palette,
): void {
  const width = Math.min(40, Math.max(0, ...hosts.map((h) => h.length)));
  run.on('server:output', ({ server, stream, line }) => {
    const prefix = colors.host(`${server}:`) + ' '.repeat(Math.max(1, width - server.length + 1));
    if (stream === 'stdout') term.out(`${prefix}${line}\n`);
    else term.err(`${prefix}${colors.enabled ? colors.warn(line) : line}\n`);
  });
}
