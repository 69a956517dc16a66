// Two changes to how ssh2's client talks, each costing a round trip or signatures per connection,
// made on the client's protocol object right after connect() (ssh2 has no option for either; its
// internals are pinned by package-lock, and a client without them is left as it was):
//
// - A key whose private half is loaded signs its first request at once, as OpenSSH's client does
//   (sshconnect2.c: only agent and public-only keys are queried first). ssh2 always asks first
//   whether the server would take the key, then signs: one more round trip, and sshd reads
//   authorized_keys twice. A refused key has cost a signature (26 µs for ed25519).
// - The host keys OpenSSH announces after login (hostkeys-00@openssh.com) are acknowledged and not
//   proved: ssh2 asks the server to prove each one and checks every signature, per connection (a
//   signature made by sshd and one checked here per host key), for a 'hostkeys' event fleetsh never
//   reads (host keys are checked from the key exchange). OpenSSH asks only for UpdateHostKeys.
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
}

/** The hash of each RSA signature algorithm ssh2 offers (as its client's getKeyAlgos pairs them). */
const RSA_HASH: Record<string, string> = {
  'rsa-sha2-256': 'sha256',
  'rsa-sha2-512': 'sha512',
  'ssh-rsa': 'sha1',
};

/** Applies both changes to a client whose connect() was just called; `ownKeys`: keys loaded here. */
export function tuneProtocol(client: Client, ownKeys: readonly ParsedKey[]): void {
  const proto = (client as unknown as { _protocol?: Protocol })._protocol;
  if (!proto) return;
  signFirstRequest(client, proto, new Set(ownKeys));
  ignoreHostKeysAnnouncement(proto);
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

function ignoreHostKeysAnnouncement(proto: Protocol): void {
  const handlers = proto._handlers;
  const ssh2Handler = handlers?.GLOBAL_REQUEST;
  if (!handlers || typeof ssh2Handler !== 'function') return;
  handlers.GLOBAL_REQUEST = (p, name, wantReply, data) => {
    if (name !== 'hostkeys-00@openssh.com') return ssh2Handler(p, name, wantReply, data);
    if (wantReply) p.requestSuccess();
  };
}
