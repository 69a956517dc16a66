// The CLI's two output streams, shared by the renderers. When a progress line is being drawn on
// the terminal, a line printed by a renderer first clears it; the progress renderer redraws it on
// its next tick, so the live lines scroll above it.
//
// Lines printed in one turn of the event loop (the lines of one chunk a host sent) are written
// together when it ends (a microtask), in order: one write for a chunk's few hundred lines instead
// of one each. 20 hosts × 1.4 MB of base64 were 372,000 writes, a third of the CLI's CPU.

export interface Terminal {
  out(text: string): void;
  err(text: string): void;
  /** Set while the fleet engine draws a progress line on stderr (a TTY). */
  progressOn: boolean;
  /** Writes what waits now (before an exit that would not wait for the end of this turn). */
  flush(): void;
}

export function terminal(): Terminal {
  /** Text waiting for the end of this turn, by stream, in the order it was printed. */
  const pending: { stream: NodeJS.WriteStream; parts: string[] }[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    if (t.progressOn) process.stderr.write('\r\x1b[K');
    for (const { stream, parts } of pending.splice(0)) stream.write(parts.join(''));
  };
  const add = (stream: NodeJS.WriteStream, text: string) => {
    if (pending.length === 0) queueMicrotask(flush);
    const last = pending[pending.length - 1];
    if (last?.stream === stream) last.parts.push(text);
    else pending.push({ stream, parts: [text] });
  };
  const t: Terminal = {
    progressOn: false,
    out: (text) => add(process.stdout, text),
    err: (text) => add(process.stderr, text),
    flush,
  };
  return t;
}
