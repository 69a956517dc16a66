// Reading ssh_config the way OpenSSH 9.2 does: `ssh-config` parses the text; the matching of Host and
// Match blocks, Include, and "first obtained value wins" are done here, because ssh-config's own
// compute() differs from OpenSSH (its `?` matches zero characters, it splits Host on commas, it runs
// `Match exec` commands and it ignores Include).
//
// Limitations, by design: `Match exec` is never run and counts as not matching (each Match line
// whose other criteria matched is noted in `matchExec`, for a warning); `Match canonical` matches
// only in the final pass (hostname canonicalisation is not done); `Match localnetwork` and `Match
// tagged` never match; unknown keywords are not errors (config-keywords.ts says which are warned about).
// ssh-config keeps no line numbers: they are counted from the white space it keeps around each line.
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { parse, LineType, type Directive, type Line, type Section } from 'ssh-config';
import { isOutOfFiles, outOfFilesError } from '../local/fd-limit.js';
import { ConnectionError } from '../process/errors.js';
import { FileCache } from './file-cache.js';
import type { HostKeyPolicy } from './types.js';

/** OpenSSH's match_pattern: `*` is any run of characters, `?` exactly one; case-sensitive. */
export function matchPattern(s: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < pattern.length && (pattern[pi] === '?' || pattern[pi] === s[si])) {
      si++;
      pi++;
    } else if (pi < pattern.length && pattern[pi] === '*') {
      star = pi++;
      mark = si;
    } else if (star !== -1) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < pattern.length && pattern[pi] === '*') pi++;
  return pi === pattern.length;
}

/**
 * OpenSSH's match_pattern_list: a comma-separated list of patterns, `!` negates one.
 * Returns 1 for a match, -1 when a negated pattern matched (which vetoes the list), 0 otherwise.
 */
export function matchPatternList(s: string, list: string, lowerPatterns = false): 1 | 0 | -1 {
  let result: 1 | 0 = 0;
  for (let pattern of list.split(',')) {
    if (lowerPatterns) pattern = pattern.toLowerCase();
    const negated = pattern.startsWith('!');
    if (negated) pattern = pattern.slice(1);
    if (matchPattern(s, pattern)) {
      if (negated) return -1;
      result = 1;
    }
  }
  return result;
}

/** A problem with a value in ssh_config or an option; the caller turns it into the right error. */
export class ExpansionError extends Error {}

/** `%x` tokens as OpenSSH's percent_expand: `%%` is `%`, an unknown token is an error. */
export function expandTokens(input: string, tokens: Readonly<Record<string, string>>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const t = input[++i];
    if (t === '%') out += '%';
    else if (t !== undefined && Object.hasOwn(tokens, t)) out += tokens[t];
    else
      throw new ExpansionError(
        t === undefined ? `a lone % at the end of "${input}"` : `unknown token %${t} in "${input}"`,
      );
  }
  return out;
}

/** `${NAME}` environment references (OpenSSH 8.4+ in paths); an unset variable is an error. */
export function expandEnv(input: string, env: NodeJS.ProcessEnv): string {
  return input.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const value = env[name];
    if (value === undefined)
      throw new ExpansionError(`environment variable \${${name}} is not set (in "${input}")`);
    return value;
  });
}

/** `~` and `~/...` to the home directory. `~user` is supported only for the current user. */
export function expandTilde(input: string, homedir: string, localUser?: string): string {
  if (!input.startsWith('~')) return input;
  const slash = input.indexOf('/');
  const who = slash === -1 ? input.slice(1) : input.slice(1, slash);
  if (who !== '' && who !== localUser) throw new ExpansionError(`cannot expand ~${who} in "${input}"`);
  return slash === -1 ? homedir : path.join(homedir, input.slice(slash + 1));
}

export interface ConfigEntry {
  /** The directive's arguments (quotes removed). */
  args: string[];
  /** The file it came from. */
  file: string;
  /** Its line in that file, from 1. */
  line: number;
}

export interface ConfigSource {
  path: string;
  /** Relative Include paths resolve against ~/.ssh ('user') or /etc/ssh ('system'). */
  kind: 'user' | 'system';
  /** A missing required file is an error; a missing optional one is skipped. */
  required: boolean;
}

export interface ConfigQuery {
  /** For error messages. */
  label: string;
  /** The host as given: Host patterns match against it (case-sensitive, as OpenSSH). */
  host: string;
  /** A user given explicitly (option or user@host): seen by `Match user`. */
  user: string | undefined;
  localUser: string;
  homedir: string;
  sources: ConfigSource[];
}

export interface ComputedSshConfig {
  /** The first obtained value of each keyword, by lowercased keyword. */
  values: Map<string, ConfigEntry>;
  /** IdentityFile entries in order, duplicates dropped. */
  identityFiles: ConfigEntry[];
  /** SendEnv lines in order (they add up, as in OpenSSH). */
  sendEnv: ConfigEntry[];
  /** Match lines that `exec` decided for this host (never run: they count as not matching). */
  matchExec: ConfigEntry[];
  /** ProxyJump or ProxyCommand, whichever was obtained first (as OpenSSH). */
  proxy: (ConfigEntry & { keyword: 'proxyjump' | 'proxycommand'; raw: string }) | undefined;
  /** Files read, including Include'd ones. */
  files: string[];
}

interface WalkState {
  query: ConfigQuery;
  result: ComputedSshConfig;
  /** What Host lines match against: the original host, then in the final pass the HostName. */
  hostForHostLines: string;
  finalPass: boolean;
  wantFinal: boolean;
}

const MAX_INCLUDE_DEPTH = 16;

/** Apply the config files to one host, as OpenSSH's two-pass reading (the second only for `Match final`). */
export async function computeSshConfig(query: ConfigQuery): Promise<ComputedSshConfig> {
  const state: WalkState = {
    query,
    result: { values: new Map(), identityFiles: [], sendEnv: [], matchExec: [], proxy: undefined, files: [] },
    hostForHostLines: query.host,
    finalPass: false,
    wantFinal: false,
  };
  for (const source of query.sources)
    await walkFile(state, source.path, source.kind, source.required, false, 0);
  if (state.wantFinal) {
    state.finalPass = true;
    state.hostForHostLines = currentHostName(state).toLowerCase();
    for (const source of query.sources) await walkFile(state, source.path, source.kind, false, false, 0);
  }
  return state.result;
}

/** HostName as obtained so far, with %h expanded, else the host as given. */
function currentHostName(state: WalkState): string {
  const entry = state.result.values.get('hostname');
  if (!entry || entry.args.length === 0) return state.query.host;
  try {
    return expandTokens(entry.args[0]!, { h: state.query.host });
  } catch (e) {
    throw configError(state.query.label, entry.file, `HostName: ${(e as Error).message}`);
  }
}

async function walkFile(
  state: WalkState,
  file: string,
  kind: 'user' | 'system',
  required: boolean,
  neverMatch: boolean,
  depth: number,
): Promise<void> {
  if (depth > MAX_INCLUDE_DEPTH) {
    throw configError(
      state.query.label,
      file,
      `Include nested more than ${MAX_INCLUDE_DEPTH} deep (a loop?)`,
    );
  }
  const lines = await loadConfigFile(file, state.query.label, required);
  if (!lines) return;
  if (!state.result.files.includes(file)) state.result.files.push(file);
  for (const line of lines) {
    if (line.type !== LineType.DIRECTIVE) continue;
    const keyword = line.param.toLowerCase();
    if (keyword === 'host' || keyword === 'match') {
      const section = sectionOf(line as Section);
      const active =
        !neverMatch &&
        (keyword === 'match'
          ? matchLineMatches(state, section.args, { args: section.args, file, line: lineOf(line) })
          : section.names
            ? section.names.has(state.hostForHostLines)
            : hostLineMatches(state, section.args));
      // Only an Include does anything in a section that does not apply: its files are still read.
      // (A generated config of a block per host is walked for every host: with 1,000 blocks, 1.6 ms
      // a target when every line was looked at, 130 µs now, measured.)
      if (!active && !section.include) continue;
      for (const sub of (line as Section).config ?? []) {
        if (sub.type !== LineType.DIRECTIVE) continue;
        if (active) applyDirective(state, sub, file);
        if (sub.param.toLowerCase() === 'include') await include(state, sub, file, kind, active, depth);
      }
    } else {
      if (!neverMatch) applyDirective(state, line, file);
      if (keyword === 'include') await include(state, line, file, kind, !neverMatch, depth);
    }
  }
}

/** What walking a Host or Match section needs, worked out once per parsed section. */
interface SectionFacts {
  args: string[];
  /** A Host line of plain names only (no `*`, `?` or `!`): it matches exactly these. */
  names: Set<string> | undefined;
  /** Whether an Include is among its lines (read even when the section does not apply). */
  include: boolean;
}

const sections = new WeakMap<Section, SectionFacts>();

function sectionOf(line: Section): SectionFacts {
  let facts = sections.get(line);
  if (!facts) {
    const args = argsOf(line);
    const plain = line.param.toLowerCase() === 'host' && args.every((a) => !/[*?!]/.test(a));
    facts = {
      args,
      names: plain ? new Set(args) : undefined,
      include: (line.config ?? []).some(
        (sub) => sub.type === LineType.DIRECTIVE && sub.param.toLowerCase() === 'include',
      ),
    };
    sections.set(line, facts);
  }
  return facts;
}

async function include(
  state: WalkState,
  line: Directive,
  file: string,
  kind: 'user' | 'system',
  active: boolean,
  depth: number,
): Promise<void> {
  const args = argsOf(line);
  // Included files are read even when inactive (as OpenSSH), but then nothing in them can match.
  for (const arg of args) {
    let pattern: string;
    try {
      pattern = expandTilde(arg, state.query.homedir, state.query.localUser);
    } catch (e) {
      throw configError(state.query.label, file, `Include: ${(e as Error).message}`);
    }
    if (!path.isAbsolute(pattern)) {
      pattern = path.join(kind === 'user' ? path.join(state.query.homedir, '.ssh') : '/etc/ssh', pattern);
    }
    for (const included of await globPaths(pattern)) {
      await walkFile(state, included, kind, false, !active, depth + 1);
    }
  }
}

/** A directive of a section that applies: its keyword's first value wins (IdentityFile adds up). */
function applyDirective(state: WalkState, line: Directive, file: string): void {
  const keyword = line.param.toLowerCase();
  if (keyword === 'include') return;
  const args = argsOf(line);
  const result = state.result;
  const entry = { args, file, line: lineOf(line) };
  if (keyword === 'sendenv') {
    result.sendEnv.push(entry);
  } else if (keyword === 'identityfile') {
    if (args.length > 0 && !result.identityFiles.some((e) => e.args[0] === args[0]))
      result.identityFiles.push(entry);
  } else if (keyword === 'proxyjump' || keyword === 'proxycommand') {
    result.proxy ??= { ...entry, keyword, raw: rawValue(line) };
  } else if (!result.values.has(keyword)) {
    result.values.set(keyword, entry);
  }
}

/** OpenSSH's Host line: space-separated patterns (commas are literal here); one negated match vetoes. */
function hostLineMatches(state: WalkState, patterns: string[]): boolean {
  let matched = false;
  for (const arg of patterns) {
    const negated = arg.startsWith('!');
    if (matchPattern(state.hostForHostLines, negated ? arg.slice(1) : arg)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** OpenSSH's match_cfg_line, without exec (never run) and canonicalisation. */
function matchLineMatches(state: WalkState, args: string[], matchLine: ConfigEntry): boolean {
  const q = state.query;
  const host = state.finalPass ? state.hostForHostLines : currentHostName(state);
  const ruser = q.user ?? state.result.values.get('user')?.args[0] ?? q.localUser;
  let result = true;
  for (let i = 0; i < args.length;) {
    let attribute = args[i++]!;
    const negated = attribute.startsWith('!');
    if (negated) attribute = attribute.slice(1);
    let matched: boolean;
    switch (attribute.toLowerCase()) {
      case 'all':
        matched = true;
        break;
      case 'final':
      case 'canonical':
        if (attribute.toLowerCase() === 'final') state.wantFinal = true;
        matched = state.finalPass;
        break;
      default: {
        const arg = args[i++];
        if (arg === undefined) return false;
        // The criteria before it matched, so running the command would decide: say it was not run.
        const seen = state.result.matchExec;
        if (attribute.toLowerCase() === 'exec' && result && !seen.some((e) => sameLine(e, matchLine)))
          seen.push(matchLine);
        matched = matchAttribute(attribute.toLowerCase(), arg, {
          host,
          original: q.host,
          ruser,
          localUser: q.localUser,
        });
      }
    }
    if (matched === negated) result = false;
  }
  return result;
}

function sameLine(a: ConfigEntry, b: ConfigEntry): boolean {
  return a.file === b.file && a.line === b.line;
}

function matchAttribute(
  attribute: string,
  arg: string,
  c: { host: string; original: string; ruser: string; localUser: string },
): boolean {
  switch (attribute) {
    case 'host':
      return matchPatternList(c.host, arg, true) === 1;
    case 'originalhost':
      return matchPatternList(c.original, arg, true) === 1;
    case 'user':
      return matchPatternList(c.ruser, arg) === 1;
    case 'localuser':
      return matchPatternList(c.localUser, arg) === 1;
    default:
      return false; // exec (never run), localnetwork, tagged, unknown
  }
}

function argsOf(line: Directive): string[] {
  const value = line.value;
  if (typeof value === 'string') {
    if (value === '') return [];
    // ssh-config keeps SetEnv's NAME=VALUE words as one string, its backslashes already taken
    // out (`B=it\"s` became `B=it"s`); OpenSSH splits the line as written.
    if (!line.quoted && line.param.toLowerCase() === 'setenv')
      return splitWords(setEnvText.get(line) ?? value);
    return [value];
  }
  return value.map((v) => v.val);
}

/**
 * OpenSSH's argv_split: words split at white space, double or single quotes group, `\` escapes a
 * quote, a backslash or (outside quotes) a space and is kept before anything else; an unquoted `#`
 * starting a word ends the line.
 */
function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (quote === undefined && /\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (quote === undefined && c === '#' && word === undefined) {
      break;
    } else if (
      c === '\\' &&
      (next === '"' || next === "'" || next === '\\' || (quote === undefined && next === ' '))
    ) {
      word = (word ?? '') + text[++i];
    } else if (c === quote) {
      quote = undefined;
    } else if (quote === undefined && (c === '"' || c === "'")) {
      quote = c;
      word ??= '';
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The text of a command-like value (ProxyCommand), quotes kept as written. */
function rawValue(line: Directive): string {
  const value = line.value;
  if (typeof value === 'string') return value;
  return value
    .map(({ val, separator, quoted }, i) => (i === 0 ? '' : separator) + (quoted ? `"${val}"` : val))
    .join('')
    .trim();
}

// The parse, not only its result, is cached: a thousand targets resolved at once share one read.
const parsedCache = new FileCache<Line[]>();
/** Each directive's line number, counted once per parse. */
const lineNumbers = new WeakMap<Line, number>();

function lineOf(line: Line): number {
  return lineNumbers.get(line) ?? 0;
}

/** A SetEnv line's words as written in the file (ssh-config has unescaped them). */
const setEnvText = new WeakMap<Line, string>();

function keepSetEnvText(lines: readonly Line[], text: string[]): void {
  for (const line of lines) {
    if (line.type !== LineType.DIRECTIVE) continue;
    const d = line as Directive;
    if (d.param.toLowerCase() === 'setenv') {
      // The keyword, then white space or `=` (with white space around it), then the words.
      const raw = /^\s*setenv(?:\s*=\s*|\s+)(.*?)\s*$/i.exec(text[lineOf(line) - 1] ?? '');
      if (raw) setEnvText.set(line, raw[1]!);
    }
    if ((line as Section).config) keepSetEnvText((line as Section).config, text);
  }
}

/** Numbers every line: each keeps the text around it, newlines included, so they are counted. */
function numberLines(lines: readonly Line[], at = { n: 1 }): void {
  const count = (text: string) => {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) at.n++;
  };
  for (const line of lines) {
    count(line.before);
    lineNumbers.set(line, at.n);
    count(line.after);
    if (line.type === LineType.DIRECTIVE && (line as Section).config)
      numberLines((line as Section).config, at);
  }
}

async function loadConfigFile(file: string, label: string, required: boolean): Promise<Line[] | undefined> {
  let st: Stats;
  try {
    st = await fsp.stat(file);
    if (st.isDirectory()) throw configError(label, file, 'it is a directory, not an ssh_config file');
  } catch (e) {
    if (e instanceof ConnectionError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
    throw configError(label, file, `cannot read it: ${(e as Error).message}`, e);
  }
  return parsedCache.get(file, st, () => readAndParse(file, label));
}

async function readAndParse(file: string, label: string): Promise<Line[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw configError(label, file, `cannot read it: ${(e as Error).message}`, e);
  }
  try {
    const lines = [...parse(text)];
    numberLines(lines);
    keepSetEnvText(lines, text.split('\n'));
    return lines;
  } catch (e) {
    throw configError(label, file, `cannot parse it: ${(e as Error).message}`, e);
  }
}

// Typed readers for the values resolution uses; a bad value is a 'config' error (via `fail`) naming the file.

/** Builds the error for a bad value: (entry, keyword, what is wrong). */
export type Fail = (entry: ConfigEntry, keyword: string, detail: string) => ConnectionError;

export function checkHostName(hostname: string, entry: ConfigEntry, fail: Fail): void {
  if (hostname === '' || hostname.startsWith('-') || /[\s'"`$;&<>|(){}\\,*?]/.test(hostname)) {
    throw fail(entry, 'HostName', `"${hostname}" is not a valid host name`);
  }
}

export function configPort(entry: ConfigEntry | undefined, fail: Fail): number | undefined {
  if (!entry) return undefined;
  const text = entry.args.join(' ');
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535))
    throw fail(entry, 'Port', `"${text}" is not a port number from 1 to 65535`);
  return port;
}

export function configYesNo(
  entry: ConfigEntry | undefined,
  keyword: string,
  fail: Fail,
): boolean | undefined {
  if (!entry) return undefined;
  const value = entry.args.join(' ').toLowerCase();
  if (value === 'yes' || value === 'true') return true;
  if (value === 'no' || value === 'false') return false;
  throw fail(entry, keyword, `expected yes or no, got "${value}"`);
}

export function configPolicy(entry: ConfigEntry | undefined, fail: Fail): HostKeyPolicy | undefined {
  if (!entry) return undefined;
  const value = entry.args.join(' ').toLowerCase();
  if (value === 'yes' || value === 'true' || value === 'ask') return 'strict';
  if (value === 'accept-new') return 'accept-new';
  if (value === 'no' || value === 'off' || value === 'false') return 'off';
  throw fail(entry, 'StrictHostKeyChecking', `expected yes, ask, accept-new or no, got "${value}"`);
}

/** OpenSSH time format (convtime): seconds, or units s/m/h/d/w, e.g. "90", "1m30s". 'none' = unset. */
export function configSeconds(
  entry: ConfigEntry | undefined,
  keyword: string,
  fail: Fail,
): number | undefined {
  if (!entry) return undefined;
  const value = entry.args.join(' ').toLowerCase();
  if (value === 'none') return undefined;
  if (!/^(\d+[smhdw]?)+$/.test(value))
    throw fail(entry, keyword, `"${value}" is not a time (seconds, or e.g. 1m30s)`);
  const unit: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let seconds = 0;
  for (const [, n, u] of value.matchAll(/(\d+)([smhdw]?)/g)) seconds += Number(n) * unit[u ?? '']!;
  return seconds * 1000;
}

export function configCount(entry: ConfigEntry | undefined, keyword: string, fail: Fail): number | undefined {
  if (!entry) return undefined;
  const value = entry.args.join(' ');
  if (!/^\d+$/.test(value)) throw fail(entry, keyword, `"${value}" is not a whole number`);
  return Number(value);
}

export function configError(label: string, file: string, detail: string, cause?: unknown): ConnectionError {
  // Out of descriptors while reading it is this machine's problem, not the file's.
  if (isOutOfFiles(cause)) return outOfFilesError(label, cause);
  return new ConnectionError('config', label, `ssh_config ${file}: ${detail}`, {
    hint: 'Fix the file, point the sshConfig option at another one, or set sshConfig: false to ignore it.',
    cause,
  });
}

const GLOB_CHARS = /[*?[]/;

/** glob(3) for Include: wildcards in any path component; sorted; hidden names need an explicit dot. */
async function globPaths(pattern: string): Promise<string[]> {
  if (!GLOB_CHARS.test(pattern)) return [pattern];
  let bases = ['/'];
  for (const part of pattern.split('/')) {
    if (part === '') continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!GLOB_CHARS.test(part)) {
        next.push(path.join(base, part));
        continue;
      }
      let names: string[];
      try {
        names = await fsp.readdir(base);
      } catch {
        continue;
      }
      const re = globSegmentRegExp(part);
      for (const name of names.sort()) {
        if ((part.startsWith('.') || !name.startsWith('.')) && re.test(name))
          next.push(path.join(base, name));
      }
    }
    bases = next;
  }
  return bases.sort();
}

function globSegmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[' && segment.indexOf(']', i + 2) !== -1) {
      const end = segment.indexOf(']', i + 2);
      let body = segment.slice(i + 1, end).replace(/\\/g, '\\\\');
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += `[${body}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
