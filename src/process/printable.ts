// Text from outside fleetsh (remote output, error messages that quote it, host names) made safe to
// show to a person. A host's bytes are untrusted: an escape sequence can retitle or clear the
// terminal or write the clipboard (OSC 52), a bare carriage return can overwrite a line with a
// forged one, and bidi overrides can reorder what is read ("Trojan Source"). Every human-facing
// rendering passes such text through `printable` before adding its own colours; buffers, JSON and
// output files keep the exact bytes.
//
// The rule: TAB and LF stay (LF is the line separator), a CR just before LF (CRLF line ends) goes;
// every other C0 control is shown as `\x1b` (CR as `\r`), DEL as `\x7f`, C1 controls (U+0080-U+009F) and the bidi embeddings, overrides and
// isolates (U+202A-U+202E, U+2066-U+2069) as `\u009b`. Backslashes are left alone, so the result
// reads like the original, and printable(printable(x)) === printable(x).

const UNPRINTABLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, 'g');

/** The text with every control character and bidi override shown as a visible escape. */
export function printable(text: string): string {
  // Most output has nothing to escape: a test is cheaper than a replace.
  if (!UNPRINTABLE.test(text)) return text;
  // A CR that ends a line (CRLF output) only moves the cursor back to where the line began: it goes.
  return text.replace(CR_AT_LINE_END, '').replace(UNPRINTABLE_ALL, visible);
}

const CR_AT_LINE_END = /\r+(?=\n|$)/g;

/** One character's visible escape. */
function visible(char: string): string {
  const code = char.charCodeAt(0);
  if (char === '\r') return '\\r';
  if (code <= 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  return `\\u${code.toString(16).padStart(4, '0')}`;
}
