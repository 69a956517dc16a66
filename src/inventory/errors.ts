// Errors of host selection: a malformed host set points at the column with a caret, an invalid
// inventory names file:line and the key. Both are UsageErrors (kind 'usage').
import { UsageError } from '../process/errors.js';

/**
 * A host set expression that cannot be parsed or expanded. The message reads:
 *
 *     host set: missing "]" to close the "[" at column 4 (column 7)
 *       web[1-
 *             ^
 */
export class HostSetError extends UsageError {
  /** The expression (one line of it, for a host file) the column refers to. */
  readonly expression: string;
  /** 0-based offset into `expression`. */
  readonly index: number;
  /** 1-based column, as shown in the message. */
  readonly column: number;
  /** What is wrong and what was expected, without the position. */
  readonly reason: string;
  /** The groups and host file lines this expression was reached through, outermost first. */
  readonly origin: readonly string[];

  /** The message without its "host set: " head, for callers that say where the expression was. */
  readonly detail: string;

  constructor(expression: string, index: number, reason: string, origin: readonly string[] = []) {
    const detail = formatDetail(expression, index, reason, origin);
    super(`host set: ${detail}`);
    this.detail = detail;
    this.expression = expression;
    this.index = index;
    this.column = index + 1;
    this.reason = reason;
    this.origin = origin;
  }

  /** The same error, reached through one more group or file (`via` goes in front). */
  within(via: string): HostSetError {
    return new HostSetError(this.expression, this.index, this.reason, [via, ...this.origin]);
  }
}

const WINDOW = 72;

function formatDetail(expression: string, index: number, reason: string, origin: readonly string[]): string {
  const where = origin.length > 0 ? `in ${origin.join(' → ')}: ` : '';
  const head = `${where}${reason} (column ${index + 1})`;
  // Show the line that holds the column, cut to a window around it when long.
  const lineStart = expression.lastIndexOf('\n', index - 1) + 1;
  let lineEnd = expression.indexOf('\n', index);
  if (lineEnd === -1) lineEnd = expression.length;
  let from = lineStart;
  let to = lineEnd;
  if (to - from > WINDOW) {
    from = Math.max(lineStart, Math.min(index - WINDOW / 2, lineEnd - WINDOW));
    to = Math.min(lineEnd, from + WINDOW);
  }
  const shown = (from > lineStart ? '…' : '') + expression.slice(from, to) + (to < lineEnd ? '…' : '');
  // Keep tabs in the padding so the caret lines up under tabbed input.
  const pad = (from > lineStart ? ' ' : '') + expression.slice(from, index).replace(/[^\t]/g, ' ');
  return `${head}\n  ${printable(shown)}\n  ${pad}^`;
}

/** Control characters would break the caret alignment (or the terminal); show them as '?'. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '?');
}

/** One problem in an inventory file. */
export interface InventoryIssue {
  file: string;
  /** 1-based line, or undefined when the problem is about the whole file. */
  line: number | undefined;
  /** The key path, like `groups.web.port` or `hosts["db1.prod"].vars`; '' for the document. */
  path: string;
  message: string;
}

const MAX_SHOWN = 20;

/** An inventory file that cannot be used; `issues` lists every problem found, in file order. */
export class InventoryError extends UsageError {
  readonly file: string;
  readonly issues: readonly InventoryIssue[];
  constructor(file: string, issues: readonly InventoryIssue[], options: { cause?: unknown } = {}) {
    const lines = issues.slice(0, MAX_SHOWN).map(formatIssue);
    if (issues.length > MAX_SHOWN) lines.push(`… and ${issues.length - MAX_SHOWN} more problems`);
    super(lines.join('\n'), options);
    this.file = file;
    this.issues = issues;
  }
}

export function formatIssue(issue: InventoryIssue): string {
  const at = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}`;
  return issue.path ? `${at}: ${issue.path}: ${issue.message}` : `${at}: ${issue.message}`;
}
