// The palette every rendering draws with: colours on a terminal only, never when NO_COLOR is set
// (https://no-color.org); FORCE_COLOR wins over the terminal check so colours can be tested under a
// pipe. And how text from outside fleetsh is shown: through printable (src/process/printable.ts) on
// a terminal and in a pipe alike, or as it came with --raw. Renderers show such text first, then
// colour it, so fleetsh's own escapes stay. `plain` is what a report's toText() draws with.
import { printable } from '../process/printable.js';

export interface Palette {
  enabled: boolean;
  /** Hosts' output, error messages and host names as they are to be shown (before any colour). */
  show(text: string): string;
  host(text: string): string;
  ok(text: string): string;
  fail(text: string): string;
  warn(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

const sgr = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;

/** Distinct, readable colours for host prefixes, picked by a hash of the name so a host keeps its colour. */
const HOST_COLORS = [36, 33, 35, 32, 34, 96, 93, 95, 92, 94];

export function palette(enabled: boolean, options: { raw?: boolean } = {}): Palette {
  const id = (text: string) => text;
  const show = options.raw ? id : printable;
  if (!enabled) return { enabled, show, host: id, ok: id, fail: id, warn: id, dim: id, bold: id };
  return {
    enabled,
    show,
    host: (text) => sgr(HOST_COLORS[hash(text) % HOST_COLORS.length]!, 39)(text),
    ok: sgr(32, 39),
    fail: sgr(31, 39),
    warn: sgr(33, 39),
    dim: sgr(2, 22),
    bold: sgr(1, 22),
  };
}

/** No colours, remote text made printable: the CLI with --no-color or in a pipe, and toText(). */
export const plain: Palette = palette(false);

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return h;
}
