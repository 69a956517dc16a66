// NATS decentralized authentication (operator mode) for the test NATS server: an operator, an
// account with JetStream, a user of it, and the system account, as JWTs signed with NKeys, plus the
// user's `.creds` file, the file `nats --creds` reads.
//
//   const auth = operatorAuth(dir);          // writes the operator JWT and the .creds files to dir
//   await using nats = await startNats({ operator: auth });
//   ... connect with { servers: nats.url, creds: auth.creds.user } ...
//
// Why by hand: a NATS JWT is `header.payload.signature`, base64url, with an ed25519 signature
// (the issuer's NKey) over the first two parts; @nats-io/nkeys (already installed by the NATS
// client) signs. The only JavaScript library that builds them, @nats-io/jwt, is a 0.0.x preview.
// The claims follow nats-io/jwt v2 (the format nats-server 2.9 checks).
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

export interface OperatorAuth {
  /** The operator's JWT file (the server's `operator` setting). */
  operatorJwt: string;
  /** The system account's public key. */
  systemAccount: string;
  /** Account public key -> account JWT, for `resolver_preload`. */
  preload: Record<string, string>;
  creds: {
    /** A user of the account with JetStream. */
    user: string;
    /** A user of a second account the server knows (JetStream too): it sees none of the first's subjects. */
    otherAccount: string;
    /** A user of an account signed by another operator, which this server does not know. */
    unknownAccount: string;
  };
  /** Every seed written to the .creds files, to check that none is ever shown. */
  seeds: string[];
}

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');

/** A signed NATS JWT: the claims' `jti` is a hash of them, as nats-io/jwt sets it. */
function jwt(signer: KeyPair, subject: string, name: string, nats: object): string {
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: signer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).digest('base64url');
  const head = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${b64url(signer.sign(Buffer.from(head)))}`;
}

const UNLIMITED = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
};
const JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

function account(operator: KeyPair, name: string, jetstream: boolean): { key: KeyPair; jwt: string } {
  const key = createAccount();
  const limits = jetstream ? { ...UNLIMITED, ...JETSTREAM } : UNLIMITED;
  return { key, jwt: jwt(operator, key.getPublicKey(), name, { type: 'account', limits }) };
}

function credsFile(path: string, acct: KeyPair, name: string, seeds: string[]): void {
  const user = createUser();
  const token = jwt(acct, user.getPublicKey(), name, {
    type: 'user',
    pub: {},
    sub: {},
    subs: -1,
    data: -1,
    payload: -1,
    issuer_account: acct.getPublicKey(),
  });
  const seed = new TextDecoder().decode(user.getSeed());
  seeds.push(seed);
  // The layout `nsc generate creds` writes and credsAuthenticator parses.
  writeFileSync(
    path,
    `-----BEGIN NATS USER JWT-----\n${token}\n------END NATS USER JWT------\n\n` +
      `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
    { mode: 0o600 },
  );
}

export function operatorAuth(dir: string): OperatorAuth {
  const operator = createOperator();
  const sys = account(operator, 'SYS', false);
  const app = account(operator, 'APP', true);
  const other = account(operator, 'OTHER', true);
  const stranger = account(createOperator(), 'STRANGER', true);
  const operatorToken = jwt(operator, operator.getPublicKey(), 'fleetsh test operator', {
    type: 'operator',
    system_account: sys.key.getPublicKey(),
  });
  const operatorJwt = join(dir, 'operator.jwt');
  writeFileSync(operatorJwt, operatorToken);
  const seeds: string[] = [];
  const creds = {
    user: join(dir, 'app-user.creds'),
    otherAccount: join(dir, 'other-user.creds'),
    unknownAccount: join(dir, 'stranger-user.creds'),
  };
  credsFile(creds.user, app.key, 'app-user', seeds);
  credsFile(creds.otherAccount, other.key, 'other-user', seeds);
  credsFile(creds.unknownAccount, stranger.key, 'stranger-user', seeds);
  return {
    operatorJwt,
    systemAccount: sys.key.getPublicKey(),
    preload: Object.fromEntries([sys, app, other].map((a) => [a.key.getPublicKey(), a.jwt])),
    creds,
    seeds,
  };
}
