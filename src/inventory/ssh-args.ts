// Ansible's `ansible_ssh_common_args` / `ansible_ssh_extra_args` (extra arguments for OpenSSH's `ssh`,
// as one string) to the settings fleetsh has for them: the jump host (`-J`, `-o ProxyJump=`, and the
// `-o ProxyCommand="ssh -W %h:%p bastion"` of older inventories), host key checking and the connect
// timeout. Arguments with no fleetsh setting are returned, for a warning: nothing is passed to a
// shell or to another program.
import type { HostKeyPolicy } from '../ssh/types.js';

export interface SshArgs {
  /** ProxyJump syntax; undefined: no jump host in the arguments. */
  jump?: string;
  hostKeyPolicy?: HostKeyPolicy;
  /** Milliseconds. */
  connectTimeout?: number;
  /** Arguments fleetsh does not use, as written. */
  ignored: string[];
}

/** Splits and reads `text`; throws an Error (with the reason) when it is not a well-formed argument list. */
export function parseSshArgs(text: string): SshArgs {
  const words = splitWords(text);
  const out: SshArgs = { ignored: [] };
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '-J' || word === '-o') {
      const value = words[++i];
      if (value === undefined) throw new Error(`${word} needs a value`);
      if (word === '-J') out.jump = value;
      else option(value, `-o ${value}`, out);
    } else if (word.startsWith('-J')) out.jump = word.slice(2);
    else if (word.startsWith('-o')) option(word.slice(2), word, out);
    else out.ignored.push(word);
  }
  return out;
}

/** One `-o Key=Value` (or `Key Value`): keys are case-insensitive, as in ssh_config. */
function option(text: string, written: string, out: SshArgs): void {
  const m = /^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*$/.exec(text);
  if (!m) {
    out.ignored.push(written);
    return;
  }
  const key = m[1]!.toLowerCase();
  const value = m[2]!;
  if (key === 'proxyjump') {
    out.jump = value;
  } else if (key === 'proxycommand') {
    const jump = jumpOfProxyCommand(value);
    if (jump === undefined) out.ignored.push(written);
    else out.jump = jump;
  } else if (key === 'stricthostkeychecking') {
    const policy = POLICIES[value.toLowerCase()];
    if (policy === undefined) out.ignored.push(written);
    else out.hostKeyPolicy = policy;
  } else if (key === 'connecttimeout' && /^\d+$/.test(value) && Number(value) > 0) {
    out.connectTimeout = Number(value) * 1000;
  } else if (key === 'userknownhostsfile' && value === '/dev/null') {
    // Paired with StrictHostKeyChecking=no to keep nothing: what hostKeyPolicy off does.
  } else {
    out.ignored.push(written);
  }
}

const POLICIES: Record<string, HostKeyPolicy> = {
  yes: 'strict',
  ask: 'strict',
  'accept-new': 'accept-new',
  no: 'off',
  off: 'off',
};

/**
 * `ssh [-q] [-l user] [-p port] -W %h:%p [user@]bastion[:port]` as ProxyJump syntax; undefined for
 * any other proxy command (it would have to run through a shell, which fleetsh does not do).
 */
function jumpOfProxyCommand(command: string): string | undefined {
  const words = splitWords(command);
  if (words.shift()?.replace(/^.*\//, '') !== 'ssh') return undefined;
  let user: string | undefined;
  let port: string | undefined;
  let forwards = false;
  let host: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-q') continue;
    if (w === '-W' && words[i + 1] === '%h:%p') {
      forwards = true;
      i++;
    } else if (w === '-l' && words[i + 1] !== undefined) user = words[++i];
    else if (w === '-p' && /^\d+$/.test(words[i + 1] ?? '')) port = words[++i];
    else if (!w.startsWith('-') && host === undefined) host = w;
    else return undefined;
  }
  if (!forwards || host === undefined) return undefined;
  const withUser = user !== undefined && !host.includes('@') ? `${user}@${host}` : host;
  return port !== undefined ? `${withUser}:${port}` : withUser;
}

/** Words as a POSIX shell splits them (quotes and backslashes), without expanding anything. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new Error("a quote (') is not closed");
      word += text.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && '"\\$`'.includes(text[j + 1] ?? '')) j++;
        word += text[j];
      }
      if (j >= text.length) throw new Error('a quote (") is not closed');
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
