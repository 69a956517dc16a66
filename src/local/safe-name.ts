// Names that become one component of a local path: a file name a server returned in a directory
// listing, a host name used as a per-host folder or an --output-dir file. Both come from outside (a
// hostile server, a dynamic inventory), and a name holding `/` or `..` would write outside the
// destination: the scp bug CVE-2019-6111. A name is safe when it is one real path component.

/** Why `name` is not safe as one path component, or undefined when it is. */
export function unsafeComponent(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name === '.' || name === '..') return `the name "${name}"`;
  if (name.includes('/')) return 'a "/" in the name';
  if (name.includes('\\')) return 'a "\\" in the name';
  if (name.includes('\0')) return 'a NUL byte in the name';
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x1f\x7f\x80-\x9f]/.test(name)) return 'a control character in the name';
  return undefined;
}

/**
 * A host name as one path component: itself when safe, else with every unsafe character replaced
 * by `_` and a `.` prefix on dot names, so `..` becomes `_..` and `a/b` becomes `a_b`.
 */
export function hostComponent(host: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = host.replace(/[/\\\0\x01-\x1f\x7f\x80-\x9f]/g, '_');
  if (flat === '') return '_';
  return flat === '.' || flat === '..' ? `_${flat}` : flat;
}

/** Shows a name as text an operator can read: control characters as \xNN, at most 200 characters. */
export function showName(name: string): string {
  // eslint-disable-next-line no-control-regex
  const shown = JSON.stringify(name.length > 200 ? name.slice(0, 200) + '…' : name);
  return shown.replace(/[\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
