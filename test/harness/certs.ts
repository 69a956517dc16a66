// A real sshd that trusts a test certificate authority, for the certificate tests (issue 14):
//
//   await using ca = await startCertHost();
//   ca.sshConfigPath   // Host cert-user, cert-host, cert-host-no-ca (see below)
//
// Everything is made per run in a temporary folder with ssh-keygen and removed by stop():
// - a CA key pair (`ca`, `ca.pub`);
// - a client key whose certificate (`client_ed25519-cert.pub`, `ssh-keygen -s ca -I id -n <user>`)
//   is the only way in: sshd has `TrustedUserCAKeys ca.pub` and an empty AuthorizedKeysFile;
// - the sshd's host key and its host certificate (`ssh-keygen -s ca -h`, principal: the address),
//   served with `HostCertificate`;
// - known_hosts files: `known_hosts.plain` (the plain host key, as a host without certificates is
//   known), `known_hosts.ca` (only `@cert-authority [address]:port <ca.pub>`), `known_hosts.empty`;
// - an ssh_config with one block per way of reaching the host, each with `CertificateFile`:
//     cert-user        the user certificate; the host is known by its plain key
//     cert-host        the user certificate; the host is known only through the @cert-authority line
//     cert-host-no-ca  the user certificate; no line knows the host (its certificate must be refused)
//     no-cert          the client key alone, no CertificateFile (sshd refuses it)
// The sshd listens on one random 127.A.B.C address and port, like test/harness/fleet.ts's hosts.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { killFleetProcesses, trackFleet } from './procs.js';
import { AddressInUse, keygen, portFree, startSshd, type Sshd } from './sshd.js';

const execFileP = promisify(execFile);

export interface CertHost {
  dir: string;
  address: string;
  port: number;
  user: string;
  /** The CA's private key and public key line. */
  caKeyPath: string;
  caPublicKey: string;
  clientKeyPath: string;
  /** The client key's user certificate, signed by the CA for `user`. */
  clientCertPath: string;
  hostCertPath: string;
  knownHostsPlainPath: string;
  knownHostsCaPath: string;
  sshConfigPath: string;
  /** Arguments for the system ssh client before the host name: -F, BatchMode, curve25519, ConnectTimeout. */
  sshArgs: string[];
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Signs `publicKeyPath` with the CA: a user certificate for `principals`, or a host one with `host`. */
export async function signKey(
  caKeyPath: string,
  publicKeyPath: string,
  options: { identity: string; principals: string[]; host?: boolean; validity?: string },
): Promise<string> {
  const args = ['-q', '-s', caKeyPath, '-I', options.identity, '-n', options.principals.join(',')];
  if (options.host) args.push('-h');
  if (options.validity) args.push('-V', options.validity);
  await execFileP('ssh-keygen', [...args, publicKeyPath]);
  return publicKeyPath.replace(/\.pub$/, '-cert.pub');
}

function randomAddress(): string {
  const byte = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
  return `127.${byte(2, 253)}.${byte(0, 255)}.${byte(1, 254)}`;
}

export async function startCertHost(): Promise<CertHost> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce();
    } catch (e) {
      if (!(e instanceof AddressInUse) || attempt >= 5) throw e;
    }
  }
}

async function startOnce(): Promise<CertHost> {
  const address = randomAddress();
  const port = 20000 + Math.floor(Math.random() * 12000);
  if (!(await portFree(address, port))) throw new AddressInUse(`${address}:${port} is taken`);
  const dir = await mkdtemp(join(tmpdir(), 'fleetsh-certs-'));
  const sshds: Sshd[] = [];
  const listeners = () => sshds.filter((s) => s.running()).map((s) => s.pid);
  const untrack = trackFleet({ roots: listeners, marker: dir, dir });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await killFleetProcesses(listeners(), dir);
      untrack();
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    const user = userInfo().username;
    const caKeyPath = join(dir, 'ca');
    const clientKeyPath = join(dir, 'client_ed25519');
    const hostKeyPath = join(dir, 'host_ed25519');
    const [caPublicKey, , hostPublicKey] = await Promise.all([
      keygen(caKeyPath, 'fleetsh-test-ca'),
      keygen(clientKeyPath, 'fleetsh-test-cert-client'),
      keygen(hostKeyPath, 'fleetsh-test-cert-host'),
    ]);
    const [clientCertPath, hostCertPath] = await Promise.all([
      signKey(caKeyPath, `${clientKeyPath}.pub`, { identity: 'fleetsh-test-user', principals: [user] }),
      signKey(caKeyPath, `${hostKeyPath}.pub`, {
        identity: 'fleetsh-test-host',
        principals: [address],
        host: true,
      }),
    ]);
    const authorizedKeysPath = join(dir, 'authorized_keys.empty');
    const knownHostsPlainPath = join(dir, 'known_hosts.plain');
    const knownHostsCaPath = join(dir, 'known_hosts.ca');
    const knownHostsEmptyPath = join(dir, 'known_hosts.empty');
    await Promise.all([
      writeFile(authorizedKeysPath, ''),
      writeFile(knownHostsPlainPath, `[${address}]:${port} ${hostPublicKey}\n`),
      writeFile(knownHostsCaPath, `@cert-authority [${address}]:${port} ${caPublicKey}\n`),
      writeFile(knownHostsEmptyPath, ''),
    ]);
    await startSshd({
      dir,
      id: 'certs',
      listen: [{ address, port }],
      hostKeyPath,
      authorizedKeysPath,
      marker: dir,
      settings: [`TrustedUserCAKeys ${caKeyPath}.pub`, `HostCertificate ${hostCertPath}`],
      onSpawn: (s) => sshds.push(s),
    });
    // The certificate sits beside the key as `<key>-cert.pub`, where ssh also finds it on its own:
    // `no-cert` gets a copy of the key without one.
    const bareKeyPath = join(dir, 'bare_ed25519');
    await writeFile(bareKeyPath, await readFile(clientKeyPath), { mode: 0o600 });
    const block = (name: string, knownHosts: string, cert: boolean) =>
      [
        `Host ${name}`,
        `  HostName ${address}`,
        `  Port ${port}`,
        `  User ${user}`,
        `  IdentityFile ${cert ? clientKeyPath : bareKeyPath}`,
        ...(cert ? [`  CertificateFile ${clientCertPath}`] : []),
        `  IdentitiesOnly yes`,
        `  UserKnownHostsFile ${knownHosts}`,
        `  GlobalKnownHostsFile /dev/null`,
        `  StrictHostKeyChecking yes`,
        '',
      ].join('\n');
    const sshConfigPath = join(dir, 'ssh_config');
    await writeFile(
      sshConfigPath,
      [
        block('cert-user', knownHostsPlainPath, true),
        block('cert-host', knownHostsCaPath, true),
        block('cert-host-no-ca', knownHostsEmptyPath, true),
        block('no-cert', knownHostsPlainPath, false),
      ].join('\n'),
    );
    return {
      dir,
      address,
      port,
      user,
      caKeyPath,
      caPublicKey,
      clientKeyPath,
      clientCertPath,
      hostCertPath,
      knownHostsPlainPath,
      knownHostsCaPath,
      sshConfigPath,
      sshArgs: [
        '-F',
        sshConfigPath,
        '-o',
        'BatchMode=yes',
        '-o',
        'KexAlgorithms=curve25519-sha256',
        '-o',
        'ConnectTimeout=10',
      ],
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
