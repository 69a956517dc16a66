// --json: the report as one JSON document, written as it is produced, piece by piece, exactly as
// JSON.stringify(value, null, 2) would write it (and --ndjson's events that carry a report, on one
// line, as JSON.stringify(value) would). One string of the whole document held every
// host's output twice (hosts[].stdout and groups[].output) and cannot pass V8's longest string:
// 300 hosts × 1 MiB failed with "Invalid string length". Node has no streaming stringify, and the
// packages that do (big JSON libraries) are more code than these few rules.

/** The pieces of `value` as JSON.stringify(value, null, space) writes it (space 2, or 0: one line). */
export function jsonPieces(value: unknown, space: 0 | 2 = 2): Generator<string> {
  return pieces(prepared(value, ''), '', space === 2 ? '  ' : '');
}

/** `v` already prepared: toJSON() is called once per value, as JSON.stringify does. */
function* pieces(v: unknown, indent: string, step: string): Generator<string> {
  if (v === null || typeof v !== 'object') {
    yield JSON.stringify(v) ?? 'null';
    return;
  }
  const inner = indent + step;
  const nl = step === '' ? '' : '\n';
  if (Array.isArray(v)) {
    if (v.length === 0) return yield '[]';
    for (let i = 0; i < v.length; i++) {
      yield `${i === 0 ? '[' : ','}${nl}${inner}`;
      const item = prepared(v[i], String(i));
      if (skipped(item)) yield 'null';
      else yield* pieces(item, inner, step);
    }
    return yield `${nl}${indent}]`;
  }
  let first = true;
  for (const [k, raw] of Object.entries(v)) {
    const item = prepared(raw, k);
    if (skipped(item)) continue;
    yield `${first ? '{' : ','}${nl}${inner}${JSON.stringify(k)}:${step === '' ? '' : ' '}`;
    first = false;
    yield* pieces(item, inner, step);
  }
  yield first ? '{}' : `${nl}${indent}}`;
}

/** What JSON leaves out of an object (and writes as null in an array). */
function skipped(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/** A value as JSON.stringify sees it: toJSON() called, boxed primitives unboxed. */
function prepared(value: unknown, key: string): unknown {
  let v = value;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function')
    v = (v as { toJSON(key: string): unknown }).toJSON(key);
  if (v instanceof Number || v instanceof String || v instanceof Boolean) v = v.valueOf();
  return v;
}

/** Writes `value` as JSON (and a line end) in pieces of about 64 KiB, never the whole document at once. */
export function writeJson(value: unknown, write: (text: string) => void, space: 0 | 2 = 2): void {
  let pending = '';
  for (const piece of jsonPieces(value, space)) {
    pending += piece;
    if (pending.length >= 64 * 1024) {
      write(pending);
      pending = '';
    }
  }
  write(pending + '\n');
}
