// Folds host names back into the range syntax: web1 web2 web3 web7 → web[1-3,7].
//
// Names are split into text and numbers; names with the same text around their numbers form one
// shape, and each shape's number vectors are merged into boxes (a cartesian product of number sets),
// first along the last number, then along earlier ones, until nothing more merges. Merging two
// disjoint boxes that agree on every other number is exact, so the result always expands back to
// exactly the input (tested as a property); it is short, though not proven the shortest.
import { naturalCompare } from './natural.js';

/** A number as written in a host name: its value and its text, which keeps the zero padding. */
interface Num {
  v: number;
  s: string;
}

/** The numbers one box takes at one position, sorted, without repeats. */
class Dim {
  #key: string | undefined;
  constructor(readonly items: Num[]) {}
  /** The folded ranges ("1-3,7"): canonical, so it doubles as a key for equal sets. */
  get key(): string {
    return (this.#key ??= foldNumbers(this.items));
  }
  render(): string {
    return this.items.length === 1 ? this.items[0]!.s : `[${this.key}]`;
  }
}

interface Shape {
  texts: string[];
  /** The numbers of every name of this shape, one after the other (texts.length - 1 a name). */
  nums: Num[];
}

/** Digit runs longer than this stay text: their values would not be exact as numbers. */
const MAX_DIGITS = 15;

/**
 * The shortest-looking host set expression for `hosts`: patterns in natural order joined with ",".
 * Zero padding is kept (web01,web02 → web[01-02]); web1 and web01 stay two different hosts.
 * `user@host:port` and IPv6 fold like names (root@web[1-3]:22, 2001:db8::[1-3]). Names with
 * characters the range syntax cannot express (anything but letters, digits, ".", "-", "_", "@",
 * ":") are listed as they are, `[2001:db8::1]:22` among them.
 */
export function fold(hosts: Iterable<string>): string {
  return foldPatterns(hosts).join(',');
}

/** Like fold(), but the patterns as a list. */
export function foldPatterns(hosts: Iterable<string>): string[] {
  return foldDistinct(new Set(hosts));
}

/** fold() for hosts known to be distinct (a HostSet's). */
export function foldDistinct(hosts: Iterable<string>): string[] {
  const shapes = new Map<string, Shape>();
  const out: { first: string; text: string }[] = [];
  const texts: string[] = [];
  const nums: Num[] = [];
  for (const host of hosts) {
    texts.length = 0;
    nums.length = 0;
    if (!split(host, texts, nums) || nums.length === 0) {
      out.push({ first: host, text: host });
      continue;
    }
    // Texts hold only name characters, so "|" cannot be part of one.
    const key = texts.join('|');
    let shape = shapes.get(key);
    if (!shape) shapes.set(key, (shape = { texts: [...texts], nums: [] }));
    for (const num of nums) shape.nums.push(num);
  }
  for (const shape of shapes.values()) {
    const t = shape.texts;
    for (const dims of foldVectors(shape.nums, t.length - 1)) {
      let first = t[0]!;
      let text = t[0]!;
      for (let i = 0; i < dims.length; i++) {
        first += dims[i]!.items[0]!.s + t[i + 1]!;
        text += dims[i]!.render() + t[i + 1]!;
      }
      out.push({ first, text });
    }
  }
  out.sort((a, b) => naturalCompare(a.first, b.first));
  return out.map((p) => p.text);
}

/** Splits a name into texts and numbers (one more text than numbers); false if not a plain name. */
function split(host: string, texts: string[], nums: Num[]): boolean {
  let textStart = 0;
  let i = 0;
  while (i < host.length) {
    const c = host.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      let j = i + 1;
      while (j < host.length && isDigit(host.charCodeAt(j))) j++;
      if (j - i <= MAX_DIGITS) {
        texts.push(host.slice(textStart, i));
        const s = host.slice(i, j);
        nums.push({ v: Number(s), s });
        textStart = j;
      }
      i = j;
    } else if (isNameChar(c)) i++;
    else return false;
  }
  texts.push(host.slice(textStart));
  return true;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Letters, ".", "-", "_", and the "@" and ":" of `user@host:port` and IPv6 (digits are handled apart). */
function isNameChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 46 || c === 45 || c === 95 || c === 64 || c === 58
  );
}

function byValue(a: Num, b: Num): number {
  return a.v - b.v || a.s.length - b.s.length;
}

/** Number vectors (n numbers each, laid end to end, distinct) to disjoint boxes that cover exactly them. */
function foldVectors(flat: Num[], n: number): Dim[][] {
  if (n === 1) return [[new Dim(flat.sort(byValue))]];
  // A number that is the same in every name (the 2 of web1.dc2, the 10.0.0 of an address) is
  // set aside: folding the others is then as cheap as folding fewer dimensions.
  const constant: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const s = flat[i]!.s;
    let same = true;
    for (let at = n + i; same && at < flat.length; at += n) same = flat[at]!.s === s;
    constant.push(same);
  }
  const kept = constant.flatMap((c, i) => (c ? [] : [i]));
  if (kept.length > 0 && kept.length < n) {
    const reduced: Num[] = [];
    for (let at = 0; at < flat.length; at += n) for (const i of kept) reduced.push(flat[at + i]!);
    return foldVectors(reduced, kept.length).map((box) => {
      const full: Dim[] = [];
      for (let i = 0, k = 0; i < n; i++) full.push(constant[i] ? new Dim([flat[i]!]) : box[k++]!);
      return full;
    });
  }
  // First pass along the last number, straight from the vectors: one box per name is costly.
  const byRest = new Map<string, { rest: Num[]; last: Num[] }>();
  for (let at = 0; at < flat.length; at += n) {
    let key = flat[at]!.s;
    for (let i = 1; i < n - 1; i++) key += ',' + flat[at + i]!.s;
    let entry = byRest.get(key);
    if (!entry) byRest.set(key, (entry = { rest: flat.slice(at, at + n - 1), last: [] }));
    entry.last.push(flat[at + n - 1]!);
  }
  let boxes: Dim[][] = [];
  for (const { rest, last } of byRest.values()) {
    boxes.push([...rest.map((x) => new Dim([x])), new Dim(last.sort(byValue))]);
  }
  // Then along the earlier numbers, and around again while anything merges.
  for (let changed = true, pass = 0; changed; pass++) {
    changed = false;
    for (let d = pass === 0 ? n - 2 : n - 1; d >= 0; d--) {
      const merged = mergeAlong(boxes, d);
      if (merged.length < boxes.length) {
        boxes = merged;
        changed = true;
      }
    }
  }
  return boxes;
}

/** Merges boxes that are equal at every position but `d` into one, uniting their numbers at `d`. */
function mergeAlong(boxes: Dim[][], d: number): Dim[][] {
  const groups = new Map<string, Dim[][]>();
  for (const box of boxes) {
    const key = box.map((dim, i) => (i === d ? '' : dim.key)).join('|');
    const group = groups.get(key);
    if (group) group.push(box);
    else groups.set(key, [box]);
  }
  if (groups.size === boxes.length) return boxes;
  const out: Dim[][] = [];
  for (const group of groups.values()) {
    if (group.length === 1) {
      out.push(group[0]!);
      continue;
    }
    const items = group.flatMap((box) => box[d]!.items).sort(byValue);
    const box = [...group[0]!];
    box[d] = new Dim(items);
    out.push(box);
  }
  return out;
}

/**
 * Sorted, distinct numbers to ranges: 1,2,3,7 → "1-3,7"; 08,09,10 → "08-10". A run keeps one
 * padding width; a number joins a run only if printing it at that width gives back its text.
 */
function foldNumbers(items: readonly Num[]): string {
  interface Run {
    width: number;
    start: Num;
    end: Num;
  }
  const runs: Run[] = [];
  let previous: Run[] = []; // runs that ended at currentValue - 1: the ones an item may extend
  let current: Run[] = []; // runs that end at currentValue
  let currentValue = Number.NaN;
  for (const item of items) {
    if (item.v !== currentValue) {
      previous = item.v === currentValue + 1 ? current : [];
      current = [];
      currentValue = item.v;
    }
    let best: Run | undefined;
    for (const r of previous) {
      if (r.end.v === item.v - 1 && fits(item.s, r.width) && (!best || r.width > best.width)) best = r;
    }
    if (best) best.end = item;
    else runs.push((best = { width: isPadded(item.s) ? item.s.length : 0, start: item, end: item }));
    current.push(best);
  }
  runs.sort((a, b) => a.start.v - b.start.v || a.width - b.width);
  return runs.map((r) => (r.start === r.end ? r.start.s : `${r.start.s}-${r.end.s}`)).join(',');
}

function isPadded(s: string): boolean {
  return s.length > 1 && s.charCodeAt(0) === 48;
}

/** Whether printing the number of text `s` at `width` gives back `s`. */
function fits(s: string, width: number): boolean {
  return isPadded(s) ? s.length === width : s.length >= width;
}
