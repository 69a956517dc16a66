// The algorithm lists a connection offers, and ssh_config's Ciphers, KexAlgorithms, HostKeyAlgorithms
// and MACs applied to them as OpenSSH's kex_assemble_names does: a plain list replaces the default,
// `+` appends, `-` removes (with `*` and `?` patterns), `^` puts first. ssh2 has its own
// append/remove form but knows neither `^` nor OpenSSH's patterns, and says nothing about names it
// does not know; here a name ssh2 cannot use is reported (and left out) so it can be warned about.
//
// The lists are ssh2 1.17's (pinned by package-lock; test/ssh/algorithms.test.ts checks them against
// ssh2's own constants), kept here so that resolving a target does not load ssh2.
import { matchPattern } from './ssh-config.js';
import type { AlgorithmList } from './types.js';

/** The ssh_config keyword for each list, as OpenSSH spells it. */
export const ALGORITHM_KEYWORDS: Readonly<Record<AlgorithmList, string>> = {
  cipher: 'Ciphers',
  kex: 'KexAlgorithms',
  serverHostKey: 'HostKeyAlgorithms',
  hmac: 'MACs',
};

/** Key exchanges, cheapest first: curve25519 costs a fraction of the others' CPU per handshake. */
const KEX = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group-exchange-sha256',
  'diffie-hellman-group14-sha256',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
];

/** What a connection offers when ssh_config says nothing (host key types are reordered by known_hosts). */
export const DEFAULT_ALGORITHMS: Readonly<Record<AlgorithmList, readonly string[]>> = {
  cipher: [
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'aes128-ctr',
    'aes192-ctr',
    'chacha20-poly1305@openssh.com',
    'aes256-ctr',
  ],
  kex: KEX,
  serverHostKey: [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
  ],
  hmac: [
    'hmac-sha2-256-etm@openssh.com',
    'hmac-sha2-512-etm@openssh.com',
    'hmac-sha1-etm@openssh.com',
    'hmac-sha2-256',
    'hmac-sha2-512',
    'hmac-sha1',
  ],
};

/** Everything ssh2 can use, defaults first: what a `+`, `^` or plain list may name. */
export const SUPPORTED_ALGORITHMS: Readonly<Record<AlgorithmList, readonly string[]>> = {
  cipher: [
    ...DEFAULT_ALGORITHMS.cipher,
    'aes256-cbc',
    'aes192-cbc',
    'aes128-cbc',
    '3des-cbc',
    'aes128-gcm',
    'aes256-gcm',
  ],
  kex: [
    ...KEX,
    'diffie-hellman-group15-sha512',
    'diffie-hellman-group17-sha512',
    'diffie-hellman-group-exchange-sha1',
    'diffie-hellman-group14-sha1',
    'diffie-hellman-group1-sha1',
  ],
  serverHostKey: [...DEFAULT_ALGORITHMS.serverHostKey, 'ssh-dss'],
  hmac: [
    ...DEFAULT_ALGORITHMS.hmac,
    'hmac-md5',
    'hmac-sha2-256-96',
    'hmac-sha2-512-96',
    'hmac-ripemd160',
    'hmac-sha1-96',
    'hmac-md5-96',
  ],
};

export interface AssembledList {
  /** What to offer, in order. Empty when nothing usable is left (the caller says so). */
  names: string[];
  /** Names the value gives that ssh2 cannot use: left out. */
  unsupported: string[];
}

/** One ssh_config value (`aes128-ctr,aes256-ctr`, `+ssh-rsa`, `-*-cbc`, `^chacha20-poly1305@openssh.com`). */
export function assembleAlgorithms(list: AlgorithmList, value: string): AssembledList {
  const defaults = DEFAULT_ALGORITHMS[list];
  const supported = SUPPORTED_ALGORITHMS[list];
  const form = value[0];
  const named = (form === '+' || form === '-' || form === '^' ? value.slice(1) : value)
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (form === '-') {
    return {
      names: defaults.filter((d) => !named.some((pattern) => matchPattern(d, pattern))),
      unsupported: [],
    };
  }
  const unsupported = named.filter((n) => !supported.includes(n));
  const usable = named.filter((n) => supported.includes(n));
  const ordered = form === '+' ? [...defaults, ...usable] : form === '^' ? [...usable, ...defaults] : usable;
  return { names: [...new Set(ordered)], unsupported: [...new Set(unsupported)] };
}
