// A host's output cut for a summary: the first lines, at most so many characters (a 1 MiB line is
// one line, cut by characters), and how much was left out. The cut is made on the text as the host
// sent it, before printable() escapes it, and never falls between the two halves of a character
// nor inside a terminal escape sequence: with --raw, a sequence cut open (an OSC without its end)
// would swallow what fleetsh prints after it. Plain string scanning; no library cuts text this way.

export interface Cut {
  /** The text shown: at most the lines and characters asked for. */
  shown: string;
  /** UTF-8 bytes of the text not shown (0 when nothing was cut). */
  moreBytes: number;
  /** Lines that start after the cut (the rest of a line cut in its middle is not one). */
  moreLines: number;
}

const ESC = 0x1b;
const CSI = 0x9b;
/** C1 controls that open a string ended by BEL or ST: DCS, SOS, OSC, PM, APC. */
const C1_STRINGS = new Set([0x90, 0x98, 0x9d, 0x9e, 0x9f]);
/** The letters after ESC that open such a string: P (DCS), X (SOS), ] (OSC), ^ (PM), _ (APC). */
const ESC_STRINGS = new Set(['P', 'X', ']', '^', '_']);

/** The text cut after `maxLines` lines or `maxChars` characters, whichever comes first. */
export function cutText(text: string, maxLines: number, maxChars: number): Cut {
  let at = Math.min(text.length, Math.max(0, maxChars));
  let nl = -1;
  for (let line = 0; line < maxLines; line++) {
    nl = text.indexOf('\n', nl + 1);
    if (nl < 0 || nl >= at) break;
    if (line === maxLines - 1) at = nl;
  }
  if (at >= text.length) return { shown: text, moreBytes: 0, moreLines: 0 };
  // Never between the two halves of a character (an emoji is two UTF-16 units).
  const before = text.charCodeAt(at - 1);
  if (at > 0 && before >= 0xd800 && before <= 0xdbff) at--;
  at = beforeOpenEscape(text, at);
  const shown = text.slice(0, at);
  const rest = text.slice(at);
  // Each line end left out starts a line not shown (the text has no final line end).
  let moreLines = 0;
  for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n', i + 1)) moreLines++;
  return { shown, moreBytes: Buffer.byteLength(rest), moreLines };
}

/** `at`, or the start of an escape sequence that begins before `at` and does not end before it. */
function beforeOpenEscape(text: string, at: number): number {
  // A sequence is short; an OSC string may be long, but one that began far back is long done or
  // was never ended (the terminal has been in it since): 4 KiB back is enough to look.
  const from = Math.max(0, at - 4096);
  for (let i = at - 1; i >= from; i--) {
    const c = text.charCodeAt(i);
    if (c !== ESC && c !== CSI && !C1_STRINGS.has(c)) continue;
    return endsBefore(text, i, at) ? at : i;
  }
  return at;
}

/** Whether the escape sequence that starts at `start` ends before `at`. */
function endsBefore(text: string, start: number, at: number): boolean {
  const c = text.charCodeAt(start);
  let i = start + 1;
  let kind: 'csi' | 'string' | 'short';
  if (c === CSI) kind = 'csi';
  else if (C1_STRINGS.has(c)) kind = 'string';
  else {
    if (i >= at) return false; // a lone ESC: the next character would complete it
    const next = text[i]!;
    i++;
    kind = next === '[' ? 'csi' : ESC_STRINGS.has(next) ? 'string' : 'short';
  }
  if (kind === 'short') return true;
  for (; i < at; i++) {
    const d = text.charCodeAt(i);
    if (kind === 'csi' && d >= 0x40 && d <= 0x7e) return true;
    if (kind === 'string' && (d === 0x07 || d === 0x9c || (d === ESC && text[i + 1] === '\\' && i + 1 < at)))
      return true;
  }
  return false;
}
