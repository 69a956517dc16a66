// A command's input onto the stream that carries it to the host: an ssh2 channel, or the system
// ssh's stdin. One rule for both transports: no input is end of input at once (as </dev/null
// locally); on a terminal, the end of input is typed, as ^D (twice after a partial line: the first
// ends the line), and the stream stays open for writing, since sshd may hang the terminal up on
// the channel's EOF (it did for root logins here: `cat` got SIGHUP before it could print what it read).
import { Readable, Transform, type Writable } from 'node:stream';
import type { ExecRequest } from '../process/executor.js';

/** ^D: the end of input typed on a terminal. */
export const EOT = 0x04;

export function feedCommandInput(to: Writable, input: ExecRequest['stdin'], pty: boolean): void {
  let last = 0x0a;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    if (pty) to.write(Buffer.from(last === 0x0a ? [EOT] : [EOT, EOT]));
    else to.end();
  };
  if (input === undefined) end();
  else if (input instanceof Readable && !pty) {
    input.on('error', end);
    input.pipe(to);
  } else if (input instanceof Readable) {
    const typed = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        if (chunk.length > 0) last = chunk[chunk.length - 1]!;
        done(null, chunk);
      },
    });
    input.on('error', end);
    typed.on('end', end);
    input.pipe(typed).pipe(to, { end: false });
  } else {
    const bytes = Buffer.from(input);
    if (bytes.length > 0) last = bytes.at(-1)!;
    to.write(bytes);
    end();
  }
}
