// Changes to how ssh2's client talks, each costing a round trip or CPU per connection, made on the
// client's protocol object right after connect() (ssh2 has no option for any; its internals are
// pinned by package-lock, and a client without them is left as it was):
//
// - A key whose private half is loaded signs its first request at once, as OpenSSH's client does
//   (sshconnect2.c: only agent and public-only keys are queried first). ssh2 always asks first
//   whether the server would take the key, then signs: one more round trip, and sshd reads
//   authorized_keys twice. A refused key has cost a signature (26 µs for ed25519).
// - The host keys OpenSSH announces after login (hostkeys-00@openssh.com) are acknowledged and not
//   proved: ssh2 asks the server to prove each one and checks every signature, per connection (a
//   signature made by sshd and one checked here per host key), for a 'hostkeys' event fleetsh never
//   reads (host keys are checked from the key exchange). OpenSSH asks only for UpdateHostKeys.
// - The curve25519 exchange hands OpenSSL raw public keys (as JWK), not DER: ssh2 exports its own
//   half as DER and builds the server's as DER, which OpenSSL 3 encodes and decodes through its
//   generic framework (58 µs and 66 µs here, against 1 µs and 7 µs). (Signing with a key object
//   made once, not the key's PEM, is identity.ts's.)
import { createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import type { ParsedKey } from 'ssh2';
import type { Ssh2 } from './ssh2-load.js';

type Client = InstanceType<Ssh2['Client']>;
type SignCallback = (data: Buffer, done: (signature: Buffer) => void) => void;
type AuthPK = (username: string, key: unknown, keyAlgo?: string, sign?: SignCallback) => void;
type GlobalRequest = (
  proto: { requestSuccess(): void },
  name: string,
  wantReply: boolean,
  data: unknown,
) => void;
interface Protocol {
  authPK?: AuthPK;
  _handlers?: { GLOBAL_REQUEST?: GlobalRequest };
  _kex?: unknown;
}

/** The parts of ssh2's curve25519 key exchange (kex.js, Curve25519Exchange) replaced here. */
interface Curve25519Exchange {
  type: string;
  _keys: { publicKey: KeyObject; privateKey: KeyObject } | null;
  generateKeys(): void;
  getPublicKey(): Buffer;
  computeSecret(otherPublicKey: Buffer): Buffer | Error;
}

/** The hash of each RSA signature algorithm ssh2 offers (as its client's getKeyAlgos pairs them). */
const RSA_HASH: Record<string, string> = {
  'rsa-sha2-256': 'sha256',
  'rsa-sha2-512': 'sha512',
  'ssh-rsa': 'sha1',
};

/** Applies the changes to a client whose connect() was just called; `ownKeys`: keys loaded here. */
export function tuneProtocol(client: Client, ownKeys: readonly ParsedKey[]): void {
  const proto = (client as unknown as { _protocol?: Protocol })._protocol;
  if (!proto) return;
  signFirstRequest(client, proto, new Set(ownKeys));
  ignoreHostKeysAnnouncement(proto);
  rawCurve25519(proto);
}

function signFirstRequest(client: Client, proto: Protocol, ownKeys: Set<ParsedKey>): void {
  const authPK = proto.authPK;
  if (typeof authPK !== 'function' || ownKeys.size === 0) return;
  proto.authPK = function (this: Protocol, username, key, keyAlgo, sign) {
    if (sign === undefined && ownKeys.has(key as ParsedKey)) {
      const parsed = key as ParsedKey;
      const hash = keyAlgo === undefined ? undefined : RSA_HASH[keyAlgo];
      sign = (data, done) => {
        const signature = parsed.sign(data, hash) as Buffer | Error;
        if (signature instanceof Error) {
          // As ssh2 does when its own signing fails: the connection fails with it.
          signature.message = `Error signing data with key: ${signature.message}`;
          client.emit('error', Object.assign(signature, { level: 'client-authentication' }));
          return;
        }
        done(signature);
      };
    }
    return authPK.call(this, username, key, keyAlgo, sign);
  };
}

/**
 * ssh2 makes each handshake's exchange and assigns it to the protocol's `_kex`, then starts it: a
 * curve25519 exchange gets its two public-key steps replaced in between, with the same results.
 */
function rawCurve25519(proto: Protocol): void {
  if (Object.getOwnPropertyDescriptor(proto, '_kex')?.set) return;
  let kex = proto._kex;
  Object.defineProperty(proto, '_kex', {
    configurable: true,
    enumerable: true,
    get: () => kex,
    set: (value: unknown) => {
      kex = value;
      if (isCurve25519(value)) useRawKeys(value);
    },
  });
}

function isCurve25519(v: unknown): v is Curve25519Exchange {
  const k = v as Partial<Curve25519Exchange> | null;
  return (
    typeof k === 'object' &&
    k !== null &&
    k.type === '25519' &&
    '_keys' in k &&
    typeof k.generateKeys === 'function' &&
    typeof k.getPublicKey === 'function' &&
    typeof k.computeSecret === 'function'
  );
}

function useRawKeys(kex: Curve25519Exchange): void {
  kex.getPublicKey = function (this: Curve25519Exchange) {
    this.generateKeys();
    return Buffer.from(this._keys!.publicKey.export({ format: 'jwk' }).x!, 'base64url');
  };
  kex.computeSecret = function (this: Curve25519Exchange, otherPublicKey: Buffer) {
    this.generateKeys();
    try {
      const publicKey = createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: otherPublicKey.toString('base64url') },
        format: 'jwk',
      });
      return toMpint(diffieHellman({ privateKey: this._keys!.privateKey, publicKey }));
    } catch (e) {
      return e as Error;
    }
  };
}

/** The shared secret as an SSH mpint's bytes: no leading zeros, one added before a high bit (as ssh2's convertToMpint). */
export function toMpint(buf: Buffer): Buffer {
  let start = 0;
  while (start < buf.length && buf[start] === 0) start++;
  const rest = buf.subarray(start);
  if (rest.length > 0 && rest[0]! & 0x80) return Buffer.concat([Buffer.from([0]), rest]);
  return start === 0 ? buf : Buffer.from(rest);
}

function ignoreHostKeysAnnouncement(proto: Protocol): void {
  const handlers = proto._handlers;
  const ssh2Handler = handlers?.GLOBAL_REQUEST;
  if (!handlers || typeof ssh2Handler !== 'function') return;
  handlers.GLOBAL_REQUEST = (p, name, wantReply, data) => {
    if (name !== 'hostkeys-00@openssh.com') return ssh2Handler(p, name, wantReply, data);
    if (wantReply) p.requestSuccess();
  };
}
