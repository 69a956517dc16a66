// Host set expressions to a syntax tree. Pure: no groups are looked up and no files are read here
// (expand.ts does that), so an expression's syntax errors are all found before any I/O.
//
//   expression := term (operator term)*        evaluated left to right: a,b!c = (a ∪ b) \ c
//   operator   := "," (union) | "!" (difference) | "&" (intersection) | white space (union)
//   term       := "@" group-name | "^" file-path | pattern
//   pattern    := (name-chars | "[" ranges "]")+       web[01-20].prod, r[1-2]n[1-4]
//                 written as an address too (src/process/address.ts): user@web[1-3], web1:2222,
//                 deploy@web[1-3]:22, [2001:db8::1]:22, 2001:db8::1, fe80::[1-3]; an "@" that
//                 starts a term is a group, one inside it a user
//   ranges     := range ("," range)*                    1,3,5-7,10-20/2
//   range      := number ("-" number ("/" step)?)?      a leading zero sets the width: 08-10 → 08 09 10
import { HostSetError } from './errors.js';

export type Operator = ',' | '!' | '&';

/** One item of a bracket: numbers start..end by step, zero-padded to `width` (0: no padding). */
export interface RangeItem {
  start: number;
  end: number;
  step: number;
  width: number;
}

export interface Brackets {
  items: RangeItem[];
  /** Offset of the "[". */
  at: number;
  /** Numbers the items produce, counting repeats. */
  count: number;
}

/** Literal text, or a bracket of numbers. */
export type Segment = string | Brackets;

export interface PatternTerm {
  kind: 'pattern';
  segments: Segment[];
  at: number;
  /** Upper bound of the hosts it expands to (the product of the bracket counts). */
  count: number;
}
export interface GroupTerm {
  kind: 'group';
  name: string;
  at: number;
}
export interface FileTerm {
  kind: 'file';
  path: string;
  at: number;
}
export type Term = PatternTerm | GroupTerm | FileTerm;

export interface Step {
  op: Operator;
  term: Term;
}

export interface Expression {
  source: string;
  steps: Step[];
}

/** Numbers in brackets stay exact as JavaScript numbers up to this many digits. */
const MAX_DIGITS = 15;

const NAME_CHAR = /[A-Za-z0-9._-]/;

/** An "@", a ":" or a bracketed IPv6 address in a pattern, from `at` to `end`. */
interface Mark {
  c: '@' | ':' | '[';
  at: number;
  end: number;
}
const GROUP_CHAR = /[A-Za-z0-9._:-]/;
const SPACE = /\s/;
const DIGIT = /[0-9]/;

export function isGroupName(name: string): boolean {
  return /^[A-Za-z0-9._:-]+$/.test(name);
}

/**
 * Parses `source` into terms and operators. Throws a HostSetError at the first syntax error, or
 * when one pattern alone would expand to more than `maxHosts` hosts.
 */
export function parseExpression(
  source: string,
  maxHosts: number,
  origin: readonly string[] = [],
): Expression {
  return new Parser(source, maxHosts, origin).parse();
}

class Parser {
  #pos = 0;
  constructor(
    private readonly src: string,
    private readonly maxHosts: number,
    private readonly origin: readonly string[],
  ) {}

  parse(): Expression {
    const steps: Step[] = [];
    this.#skipSpace();
    if (this.#eof()) return { source: this.src, steps };
    let op: Operator = ',';
    for (;;) {
      steps.push({ op, term: this.#term(steps.length === 0 ? undefined : op) });
      const spaced = this.#skipSpace();
      if (this.#eof()) break;
      const c = this.#peek();
      if (c === ',' || c === '!' || c === '&') {
        op = c;
        this.#pos++;
        this.#skipSpace();
      } else if (spaced) {
        op = ',';
      } else {
        throw this.#afterTerm(steps[steps.length - 1]!.term);
      }
    }
    return { source: this.src, steps };
  }

  #term(after: Operator | undefined): Term {
    const at = this.#pos;
    const c = this.#peek();
    if (c === '@') return this.#group();
    if (c === '^') return this.#file();
    if (c !== undefined && (NAME_CHAR.test(c) || c === '[' || c === ':')) return this.#pattern();
    const found = c === undefined ? 'the end' : show(c);
    if (c === ']') throw this.#error(at, 'unexpected "]" with no "[" before it');
    if (c !== undefined && c !== ',' && c !== '!' && c !== '&') throw this.#error(at, badNameChar(c));
    const where = after === undefined ? '' : ` after "${after}"`;
    throw this.#error(at, `expected a host name, @group or ^file${where}, found ${found}`);
  }

  #group(): GroupTerm {
    const at = this.#pos++;
    const start = this.#pos;
    while (!this.#eof() && GROUP_CHAR.test(this.#peek()!)) this.#pos++;
    if (this.#pos === start) {
      const c = this.#peek();
      throw this.#error(
        this.#pos,
        `expected a group name after "@" (letters, digits, ".", "_", ":", "-"), found ${c === undefined ? 'the end' : show(c)}`,
      );
    }
    return { kind: 'group', name: this.src.slice(start, this.#pos), at };
  }

  #file(): FileTerm {
    const at = this.#pos++;
    const start = this.#pos;
    while (!this.#eof() && !isBoundary(this.#peek()!)) this.#pos++;
    if (this.#pos === start) throw this.#error(this.#pos, 'expected a file name after "^"');
    return { kind: 'file', path: this.src.slice(start, this.#pos), at };
  }

  #pattern(): PatternTerm {
    const at = this.#pos;
    const segments: Segment[] = [];
    const marks: Mark[] = [];
    let count = 1;
    let text = '';
    for (;;) {
      const c = this.#peek();
      if (c !== undefined && (NAME_CHAR.test(c) || c === '@' || c === ':')) {
        if (c === '@' || c === ':') marks.push({ c, at: this.#pos, end: this.#pos + 1 });
        text += c;
        this.#pos++;
      } else if (c === '[' && this.#addressBracket() !== undefined) {
        const end = this.#addressBracket()!;
        marks.push({ c: '[', at: this.#pos, end });
        text += this.src.slice(this.#pos, end);
        this.#pos = end;
      } else if (c === '[') {
        if (text) segments.push(text);
        text = '';
        const brackets = this.#brackets();
        segments.push(brackets);
        count *= brackets.count;
        if (count > this.maxHosts) {
          throw this.#error(
            at,
            `${this.src.slice(at, this.#pos)} expands to more than ${this.maxHosts.toLocaleString('en-US')} hosts ` +
              `(the limit, maxHosts)`,
          );
        }
      } else break;
    }
    if (text) segments.push(text);
    if (marks.length > 0) this.#checkAddress(at, marks);
    return { kind: 'pattern', segments, at, count };
  }

  /**
   * At a "[": the end of a bracketed IPv6 address (`[2001:db8::1]`) when this is one, else
   * undefined (a range). Ranges hold digits and ",-/", an address hex digits, "." and ":".
   */
  #addressBracket(): number | undefined {
    let i = this.#pos + 1;
    while (i < this.src.length && /[0-9A-Fa-f:.]/.test(this.src[i]!)) i++;
    if (!this.src.slice(this.#pos + 1, i).includes(':')) return undefined;
    if (this.src[i] !== ']') {
      const found = i < this.src.length ? show(this.src[i]!) : 'the end';
      throw this.#error(
        i,
        `expected "]" to close the IPv6 address [${this.src.slice(this.#pos + 1, i)}], found ${found}`,
      );
    }
    return i + 1;
  }

  /**
   * A pattern written as an address: `user@host`, `host:port`, `[v6]:port`, a bare IPv6 literal
   * (src/process/address.ts splits them the same way). `marks` are its "@", ":" and brackets.
   */
  #checkAddress(at: number, marks: Mark[]): void {
    const end = this.#pos;
    const ats = marks.filter((m) => m.c === '@');
    const twice = ats.find((m, i) => i > 0 && ats[i - 1]!.end === m.at);
    if (twice) {
      throw this.#error(
        twice.at,
        'a @group takes no user (user@@group): give the user with -l or in the inventory',
      );
    }
    const lastAt = ats.pop();
    const hostStart = lastAt ? lastAt.end : at;
    if (lastAt && hostStart === end) throw this.#error(end, 'expected a host after "@" (user@host)');
    const inUser = marks.find((m) => m.c !== '@' && m.at < hostStart);
    if (inUser) {
      throw this.#error(inUser.at, `${show(this.src[inUser.at]!)} cannot appear in a user name (user@host)`);
    }
    const hostMarks = marks.filter((m) => m.at >= hostStart);
    const bracket = hostMarks.find((m) => m.c === '[');
    const colons = hostMarks.filter((m) => m.c === ':');
    let portAt: number | undefined;
    if (bracket) {
      if (bracket.at !== hostStart) {
        throw this.#error(bracket.at, 'an IPv6 address in brackets is the whole host: [2001:db8::1]:22');
      }
      if (bracket.end < end) {
        if (this.src[bracket.end] !== ':') {
          throw this.#error(
            bracket.end,
            `expected ":" and a port after the address in brackets, found ${show(this.src[bracket.end]!)}`,
          );
        }
        portAt = bracket.end + 1;
      }
    } else if (colons.length === 1) {
      if (colons[0]!.at === hostStart) throw this.#error(hostStart, 'expected a host before ":" (host:port)');
      portAt = colons[0]!.end;
    } else if (colons.length > 1) {
      const host = this.src.slice(hostStart, end);
      if (!/^([0-9A-Fa-f:.]|\[[0-9,/-]*\])+$/.test(host)) {
        throw this.#error(
          hostStart,
          `${JSON.stringify(host)} is neither host:port nor an IPv6 address (several ":" are an address's; give a port as [2001:db8::1]:22)`,
        );
      }
    }
    if (portAt === undefined) return;
    const port = this.src.slice(portAt, end);
    if (port === '' || !/^([0-9]|\[[0-9,/-]*\])+$/.test(port)) {
      throw this.#error(
        portAt,
        `expected a port number after ":", found ${port === '' ? 'the end' : JSON.stringify(port)}`,
      );
    }
    if (/^[0-9]+$/.test(port) && !(Number(port) >= 1 && Number(port) <= 65535)) {
      throw this.#error(portAt, `port ${port} is not a number from 1 to 65535`);
    }
  }

  #brackets(): Brackets {
    const open = this.#pos++;
    const items: RangeItem[] = [];
    let count = 0;
    if (this.#peek() === ']')
      throw this.#error(this.#pos, 'empty "[]": expected a number or a range like 1-5');
    for (;;) {
      const first = this.#number(open, 'a number');
      let item: RangeItem = { start: first.value, end: first.value, step: 1, width: first.width };
      const ranged = this.#peek() === '-';
      if (ranged) {
        this.#pos++;
        const last = this.#number(open, 'a number after "-"');
        if (last.value < first.value) {
          throw this.#error(
            first.at,
            `range ${first.text}-${last.text} goes down: write it as ${last.text}-${first.text}`,
          );
        }
        const padded = last.text.length > 1 && last.text.startsWith('0');
        if (padded && last.text.length !== first.width) {
          throw this.#error(
            last.at,
            `"${first.text}-${last.text}" mixes zero paddings: give both ends the same width, ` +
              `like ${first.value.toString().padStart(last.text.length, '0')}-${last.text}`,
          );
        }
        item = { ...item, end: last.value };
        if (this.#peek() === '/') {
          this.#pos++;
          const step = this.#number(open, 'a step after "/"');
          if (step.value === 0) throw this.#error(step.at, 'a step must be 1 or more');
          item.step = step.value;
        }
      } else if (this.#peek() === '/') {
        throw this.#error(this.#pos, 'a step needs a range before it, like [1-9/2]');
      }
      items.push(item);
      count += Math.floor((item.end - item.start) / item.step) + 1;
      const c = this.#peek();
      if (c === ']') {
        this.#pos++;
        return { items, at: open, count };
      }
      if (c === ',') {
        this.#pos++;
        continue;
      }
      const expected = ranged ? '"," or "]"' : '"-", "," or "]"';
      throw this.#error(this.#pos, `expected ${expected}, found ${this.#found(open)}`);
    }
  }

  #number(open: number, what: string): { value: number; width: number; text: string; at: number } {
    const at = this.#pos;
    while (!this.#eof() && DIGIT.test(this.#peek()!)) this.#pos++;
    const text = this.src.slice(at, this.#pos);
    if (text === '') throw this.#error(at, `expected ${what}, found ${this.#found(open)}`);
    if (text.length > MAX_DIGITS) throw this.#error(at, `number too long: at most ${MAX_DIGITS} digits`);
    const width = text.length > 1 && text.startsWith('0') ? text.length : 0;
    return { value: Number(text), width, text, at };
  }

  #afterTerm(term: Term): HostSetError {
    const c = this.#peek()!;
    if (term.kind === 'pattern') {
      if (c === '^')
        return this.#error(this.#pos, '"^" may only start a file name, as a term of its own (web1,^hosts)');
      if (c === ']') return this.#error(this.#pos, 'unexpected "]" with no "[" before it');
      return this.#error(this.#pos, badNameChar(c));
    }
    const what = term.kind === 'group' ? `the group name @${term.name}` : 'a file name';
    return this.#error(this.#pos, `expected ",", "!", "&" or white space after ${what}, found ${show(c)}`);
  }

  /** The character at the position, or the end and the "[" it leaves open. */
  #found(open: number): string {
    const c = this.#peek();
    return c === undefined ? `the end (the "[" at column ${open + 1} is not closed)` : show(c);
  }

  #skipSpace(): boolean {
    const start = this.#pos;
    while (!this.#eof() && SPACE.test(this.#peek()!)) this.#pos++;
    return this.#pos > start;
  }

  #peek(): string | undefined {
    return this.src[this.#pos];
  }

  #eof(): boolean {
    return this.#pos >= this.src.length;
  }

  #error(index: number, reason: string): HostSetError {
    return new HostSetError(this.src, index, reason, this.origin);
  }
}

function isBoundary(c: string): boolean {
  return c === ',' || c === '!' || c === '&' || SPACE.test(c);
}

function badNameChar(c: string): string {
  return `${show(c)} cannot appear in a host name (letters, digits, ".", "-", "_", [ranges], user@ and :port)`;
}

function show(c: string): string {
  return JSON.stringify(c);
}
