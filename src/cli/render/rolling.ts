// A rolling deployment as it goes, for operators: a header as each batch starts and a line when it
// stops. Host sets are the library's, already folded; host names and reasons (which can quote a
// host's output) go through colors.show. The end of the deployment is src/render/rolling-text.ts.
import type { Palette } from '../../render/palette.js';
import type { Terminal } from './terminal.js';

export interface RollingSource {
  on(event: 'rolling:batch', listener: (e: { phase: string; batch: number; hosts: string }) => void): unknown;
  on(event: 'rolling:stop', listener: (e: { reason: string }) => void): unknown;
}

export function rollingHeaders(job: RollingSource, term: Terminal, colors: Palette): void {
  job.on('rolling:batch', ({ batch, hosts }) =>
    term.out(colors.bold(`== batch ${batch}: ${colors.show(hosts)}`) + '\n'),
  );
  job.on('rolling:stop', ({ reason }) => term.out(colors.fail(`== stopping: ${colors.show(reason)}`) + '\n'));
}
