// The CLI's two output streams, shared by the renderers. When a progress line is being drawn on
// the terminal, a line printed by a renderer first clears it; the progress renderer redraws it on
// its next tick, so the live lines scroll above it.

export interface Terminal {
  out(text: string): void;
  err(text: string): void;
  /** Set while the fleet engine draws a progress line on stderr (a TTY). */
  progressOn: boolean;
}

export function terminal(): Terminal {
  const t: Terminal = {
    progressOn: false,
    out(text) {
      if (t.progressOn) process.stderr.write('\r\x1b[K');
      process.stdout.write(text);
    },
    err(text) {
      if (t.progressOn) process.stderr.write('\r\x1b[K');
      process.stderr.write(text);
    },
  };
  return t;
}
