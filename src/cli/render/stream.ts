// Live output: each line as it comes, prefixed with its host (`web1: ...`), stdout lines on stdout
// and stderr lines on stderr, host names aligned and coloured on a terminal. A line is shown with
// its control characters escaped (colors.show), so a host cannot forge another's line. Without the
// prefix (-N, as pdsh -N) the lines are the hosts' output alone, for a pipe.
import type { Palette } from '../../render/palette.js';
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
  prefixed = true,
): void {
  const width = Math.min(40, Math.max(0, ...hosts.map((h) => colors.show(h).length)));
  run.on('server:output', ({ server, stream, line }) => {
    const name = colors.show(server);
    const text = colors.show(line);
    const prefix = !prefixed
      ? ''
      : colors.host(`${name}:`) + ' '.repeat(Math.max(1, width - name.length + 1));
    if (stream === 'stdout') term.out(`${prefix}${text}\n`);
    else term.err(`${prefix}${colors.enabled ? colors.warn(text) : text}\n`);
  });
}
