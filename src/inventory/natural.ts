// Natural (numeric-aware) order for host names: web2 < web10, and a total, deterministic order so
// that sorted output never depends on input order.

const ZERO = 48;
const NINE = 57;

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

/**
 * Compares two host names with digit runs taken as numbers: `web2` < `web10` < `web10a`.
 * Equal numbers with different padding order the shorter first (`web1` < `web01`); names equal in
 * every respect fall back to plain code-unit order, so the result is 0 only for identical strings.
 */
export function naturalCompare(a: string, b: string): number {
  let i = 0;
  let j = 0;
  let paddingTie = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      let ai = i;
      let bj = j;
      while (ai < a.length && a.charCodeAt(ai) === ZERO) ai++;
      while (bj < b.length && b.charCodeAt(bj) === ZERO) bj++;
      let aEnd = ai;
      let bEnd = bj;
      while (aEnd < a.length && isDigit(a.charCodeAt(aEnd))) aEnd++;
      while (bEnd < b.length && isDigit(b.charCodeAt(bEnd))) bEnd++;
      // Without leading zeros, a longer digit run is a larger number.
      const lenDiff = aEnd - ai - (bEnd - bj);
      if (lenDiff !== 0) return lenDiff;
      for (let k = 0; k < aEnd - ai; k++) {
        const d = a.charCodeAt(ai + k) - b.charCodeAt(bj + k);
        if (d !== 0) return d;
      }
      if (paddingTie === 0) paddingTie = aEnd - i - (bEnd - j);
      i = aEnd;
      j = bEnd;
      continue;
    }
    if (ca !== cb) return ca - cb;
    i++;
    j++;
  }
  const rest = a.length - i - (b.length - j);
  if (rest !== 0) return rest;
  if (paddingTie !== 0) return paddingTie;
  return a < b ? -1 : a > b ? 1 : 0;
}
