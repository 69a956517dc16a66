// Durations are given in milliseconds or as text: '500ms', '30s', '2m', '1h', '1.5s'.
import { UsageError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export type Duration = number | string;

/** Parses a duration for the option `name`; the error names the option (and host, when given). */
export function parseDuration(value: Duration, name: string, host?: string): number {
  let ms: number | undefined;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
    if (m) ms = Number(m[1]) * UNITS[m[2] ?? 'ms']!;
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    const where = host ? `${host}: ` : '';
    throw new UsageError(
      `${where}option ${name}: expected a duration such as 500, '500ms', '30s' or '2m', got ${JSON.stringify(value)}`,
    );
  }
  return Math.round(ms);
}
