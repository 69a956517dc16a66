// POSIX shell quoting: every value becomes exactly one word, whatever bytes it holds.

/** Characters that never need quoting in a POSIX shell word (no `=` or `~`: they change meaning at a word's start). */
const SAFE = /^[A-Za-z0-9_/.,:@%+-]+$/;

/** Quotes a string as one POSIX shell word: `it's` → `'it'\''s'`. */
export function quote(value: string): string {
  if (value === '') return "''";
  if (SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
