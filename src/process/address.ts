// The one reading of a host as people write it: `host`, `user@host`, `host:port`,
// `user@host:port`, `[2001:db8::1]:22`, a bare IPv6 literal (`2001:db8::1`, no port: its colons
// are the address's), and `ssh://` in front. The host-set grammar, the fleet's names for its
// targets and the SSH layer's target parser all split a host this way; each validates what it
// needs on top (the SSH layer the user and port, the grammar the characters and its column).

export interface WrittenAddress {
  /** Before the last "@" (a user may hold "@" itself: `john@corp@web1`). */
  user: string | undefined;
  /** The host: a name or an address, without the brackets of `[v6]:port`. */
  host: string;
  /** After the host's ":" (as text: its validity is the caller's to judge). */
  port: string | undefined;
  /** What is wrong with brackets that do not close or are followed by junk, else undefined. */
  malformed: string | undefined;
}

/** Splits `[ssh://][user@]host[:port]` without judging its parts. */
export function splitAddress(text: string): WrittenAddress {
  let s = text.trim();
  if (/^ssh:\/\//i.test(s)) {
    s = s.slice('ssh://'.length).replace(/\/$/, '');
    if (/[/?#]/.test(s))
      return { ...splitAddress(s.replace(/[/?#].*$/s, '')), malformed: 'an ssh:// target takes no path' };
  }
  const at = s.lastIndexOf('@');
  const user = at === -1 ? undefined : s.slice(0, at);
  const rest = s.slice(at + 1);
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end === -1) return { user, host: rest.slice(1), port: undefined, malformed: 'missing "]"' };
    const after = rest.slice(end + 1);
    const malformed = after !== '' && !after.startsWith(':') ? `unexpected "${after}" after "]"` : undefined;
    return {
      user,
      host: rest.slice(1, end),
      port: after.startsWith(':') ? after.slice(1) : undefined,
      malformed,
    };
  }
  const colon = rest.indexOf(':');
  if (colon !== -1 && colon === rest.lastIndexOf(':')) {
    return { user, host: rest.slice(0, colon), port: rest.slice(colon + 1), malformed: undefined };
  }
  return { user, host: rest, port: undefined, malformed: undefined }; // a name, or a bare IPv6 literal
}

/** The host with its port, as reports name it: `web1`, `web1:2222`, `[2001:db8::1]:22`; never the user. */
export function addressName(text: string, port?: number | string): string {
  const written = splitAddress(text);
  return hostWithPort(written.host, port ?? written.port);
}

/** `web1:2222`, `[2001:db8::1]:22`, or the host alone without a port. */
export function hostWithPort(host: string, port: number | string | undefined): string {
  if (port === undefined) return host;
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** True when the text names a host alone: no user and no port written. */
export function isBareHost(text: string): boolean {
  const { user, port } = splitAddress(text);
  return user === undefined && port === undefined;
}

/** The same text with `host` in place of its host, keeping the user and port written with it. */
export function withHost(text: string, host: string): string {
  const written = splitAddress(text);
  return `${written.user !== undefined ? `${written.user}@` : ''}${hostWithPort(host, written.port)}`;
}
