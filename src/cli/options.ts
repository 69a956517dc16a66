// Parsers for flag values. Each error names the flag, so `fleetsh run -f lots` says what -f takes.
import { parseDuration } from '../process/duration.js';
import { CliUsageError } from './errors.js';

export function parseFanout(value: string): number | 'adaptive' {
  if (value === 'adaptive') return 'adaptive';
  return parseCount(value, '-f/--fanout', 'a number of hosts at once, or "adaptive"');
}

export function parseCount(value: string, flag: string, what = 'a whole number', min = 1): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min) {
    throw new CliUsageError(
      `${flag}: expected ${what}${min > 0 ? ` (at least ${min})` : ''}, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** `5` or `10%`: a failure budget. */
export function parseBudget(value: string, flag = '--max-failures'): number | `${number}%` {
  const v = value.trim();
  if (/^\d+(\.\d+)?%$/.test(v) && Number(v.slice(0, -1)) <= 100) return v as `${number}%`;
  if (/^\d+$/.test(v)) return Number(v);
  throw new CliUsageError(
    `${flag}: expected a number of hosts (5) or a percentage (10%), got ${JSON.stringify(value)}`,
  );
}

/** `1,10%,100%`: rolling batch sizes. */
export function parseBatches(value: string): (number | `${number}%`)[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new CliUsageError(
      `--batches: expected sizes separated by commas, like 1,10%,100%, got ${JSON.stringify(value)}`,
    );
  }
  return parts.map((p) => {
    const b = parseBudget(p, '--batches');
    if (b === 0 || b === '0%')
      throw new CliUsageError(`--batches: a batch cannot be empty, got ${JSON.stringify(p)}`);
    return b;
  });
}

export function parseDurationFlag(value: string, flag: string): number {
  // Bare numbers on the command line are seconds, as in ssh -o ConnectTimeout and timeout(1).
  const text = /^\d+(\.\d+)?$/.test(value.trim()) ? `${value.trim()}s` : value;
  try {
    return parseDuration(text, flag);
  } catch {
    throw new CliUsageError(
      `${flag}: expected a duration such as 30 (seconds), 500ms, 30s or 2m, got ${JSON.stringify(value)}`,
    );
  }
}

/** `0644` or `644` or `u=rw,go=r` is too much; octal only. */
export function parseMode(value: string): number {
  if (!/^0?[0-7]{3,4}$/.test(value.trim())) {
    throw new CliUsageError(`--mode: expected an octal file mode such as 0644, got ${JSON.stringify(value)}`);
  }
  return parseInt(value, 8);
}
