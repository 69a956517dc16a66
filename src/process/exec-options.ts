// What a command may ask of its transport besides running: a pseudo-terminal, and sudo. One
// validation each, used wherever the option is given (a command's `.pty()`, a shell's `.with()`,
// a fleet's options), so a bad value fails before anything runs, naming the option.
import { UsageError } from './errors.js';

/** A pseudo-terminal for the command: what `ssh -t` gives. */
export interface PtyOptions {
  /** TERM on the host (default 'xterm'). */
  term?: string;
  /** Window size (default 24 rows of 80 columns). */
  rows?: number;
  cols?: number;
}

/** Running the command through sudo on the host. */
export interface SudoOptions {
  /** Run as this user (`sudo -u`); default: sudo's own default, root. */
  user?: string;
  /**
   * The password sudo asks for; default: the SSH target's `sudoPassword`, else its `password`.
   * Without one, sudo runs with `-n` and fails at once where it would ask.
   */
  password?: string;
}

export type Pty = Required<PtyOptions>;

const PTY_DEFAULTS: Pty = { term: 'xterm', rows: 24, cols: 80 };

/** `true` or options → the full pty request; `false`/undefined → none. */
export function ptyOf(value: unknown, where = 'pty'): Pty | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return PTY_DEFAULTS;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`${where}: expected true, false or { term, rows, cols }, got ${describe(value)}`);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['term', 'rows', 'cols'].includes(key))
      throw new UsageError(`${where}: unknown option ${JSON.stringify(key)} (expected term, rows, cols)`);
  }
  if (o.term !== undefined && (typeof o.term !== 'string' || !/^[\w.+-]{1,64}$/.test(o.term)))
    throw new UsageError(`${where}.term: expected a terminal type like 'xterm', got ${describe(o.term)}`);
  for (const key of ['rows', 'cols'] as const) {
    const n = o[key];
    if (n !== undefined && !(Number.isInteger(n) && (n as number) > 0 && (n as number) <= 10_000))
      throw new UsageError(`${where}.${key}: expected a whole number from 1 to 10000, got ${describe(n)}`);
  }
  return { ...PTY_DEFAULTS, ...(o as PtyOptions) };
}

/**
 * `true` or options → sudo options whose password is not enumerable (so it is in no JSON and no
 * `util.inspect` of a shell's or a fleet's options); `false`/undefined → no sudo.
 */
export function sudoOf(value: unknown, where = 'sudo'): SudoOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`${where}: expected true, false or { user, password }, got ${describe(value)}`);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'user' && key !== 'password')
      throw new UsageError(`${where}: unknown option ${JSON.stringify(key)} (expected user, password)`);
  }
  if (o.user !== undefined && !isSudoUser(o.user))
    throw new UsageError(`${where}.user: expected a user name, got ${describe(o.user)}`);
  const out: SudoOptions = o.user === undefined ? {} : { user: o.user as string };
  if (o.password !== undefined) {
    // Never echo a secret: only its type, or what is wrong with it.
    if (typeof o.password !== 'string')
      throw new UsageError(`${where}.password: expected a string, got ${typeof o.password}`);
    if (/[\r\n\0]/.test(o.password))
      throw new UsageError(`${where}.password: contains a line break or NUL, which sudo cannot read`);
    Object.defineProperty(out, 'password', { value: o.password, enumerable: false });
  }
  return out;
}

/** A user name as sudo -u takes it (or #uid); it goes on sudo's command line as one quoted word. */
export function isSudoUser(name: unknown): name is string {
  return typeof name === 'string' && /^#?[\w.][\w.@-]{0,63}\$?$/.test(name);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
