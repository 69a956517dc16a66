// Durations are milliseconds as a number, or text with units: '500ms', '30s', '2m', '1h30m'.
import { UsageError } from './errors.js';

export type Duration = number | string;

const UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration for the option `option`; the error names the option (and the host, when given). */
export function parseDuration(value: Duration, option: string, host?: string): number {
  const bad = (why: string): UsageError =>
    new UsageError(`${host ? `${host}: ` : ''}option ${option} ${why}`, host === undefined ? {} : { host });
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw bad(`must be a non-negative number of milliseconds, got ${value}`);
    return Math.round(value);
  }
  if (typeof value !== 'string')
    throw bad(`must be milliseconds or a string like '10s', got ${typeof value}`);
  const text = value.replace(/\s+/g, '').toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) throw bad(`"${value}" needs a unit, e.g. '${text}s' or '${text}ms'`);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) {
    throw bad(`"${value}" is not a duration (use milliseconds, or e.g. '10s', '500ms', '2m', '1h30m')`);
  }
  let ms = 0;
  for (const [, n, u] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * UNIT[u!]!;
  return Math.round(ms);
}
