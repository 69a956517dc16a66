// The fleet's `Connect` through the agent: each host a shell whose commands and transfers run on
// the agent's connection to it. A host the agent cannot serve without a secret this process holds (a password,
// a key's passphrase or the key's text, a sudo password in its settings), or one over the OpenSSH
// transport (its ControlMaster is the kept connection), connects directly, as it
// does when the agent went away before the host's turn.
import { isAbsolute, resolve } from 'node:path';
import { makeShell } from '../command/shell.js';
import { sshConnect, type SshFactory } from '../fleet/connect.js';
import type { Connect, FleetDirectoryResult, FleetShell, FleetUploadOptions } from '../fleet/target.js';
import { labelOf } from '../ssh/shell.js';
import { AgentExecutor, clientContext, type AgentClient } from './client.js';

const SECRETS = new Set(['password', 'passphrase', 'sudoPassword']);

export function agentConnect(client: AgentClient, direct: SshFactory): Connect {
  const context = clientContext();
  const factory: SshFactory = (target: unknown) => {
    const described = client.lost ? undefined : description(target);
    if (!described) return direct(target);
    const executor = new AgentExecutor(client, labelOf(described as never), described, context);
    const never = new AbortController().signal;
    return makeShell(executor, {}, () => ({
      connect: () => executor.ready(never),
      uploadFile: (local: string, remote: string, o?: FleetUploadOptions) =>
        executor.transfer('upload', local, remote, o),
      downloadFile: (remote: string, local: string, o?: FleetUploadOptions) =>
        executor.transfer('download', local, remote, o),
      uploadDirectory: (local: string, remote: string, o?: FleetUploadOptions) =>
        executor.transfer('upload-directory', local, remote, o),
      downloadDirectory: (remote: string, local: string, o?: FleetUploadOptions) =>
        executor.transfer('download-directory', local, remote, o) as Promise<FleetDirectoryResult>,
    })) as FleetShell;
  };
  return sshConnect(factory);
}

/**
 * The target as the agent gets it: plain JSON, paths made absolute against this process's folder;
 * undefined when it holds a secret or something JSON cannot carry (a Buffer, a function).
 */
export function description(target: unknown): object | undefined {
  const raw = typeof target === 'string' ? { host: target } : target;
  let safe = true;
  const copy = JSON.parse(
    JSON.stringify(raw, (key: string, value: unknown) => {
      if (SECRETS.has(key) && value !== undefined) safe = false;
      // The agent keeps ssh2 connections; a host over the system ssh has its ControlMaster.
      if (key === 'transport' && value === 'openssh') safe = false;
      if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') safe = false;
      if (value instanceof Object && 'type' in value && (value as { type: unknown }).type === 'Buffer')
        safe = false;
      if (
        key === 'privateKey' &&
        typeof value === 'string' &&
        (value.includes('\n') || value.includes('-----BEGIN'))
      )
        safe = false;
      if (key === 'privateKey' || key === 'sshConfig')
        return typeof value === 'string' ? absolute(value) : value;
      if (key === 'knownHosts')
        return typeof value === 'string'
          ? absolute(value)
          : Array.isArray(value)
            ? value.map((v) => (typeof v === 'string' ? absolute(v) : v))
            : value;
      return value;
    }) ?? 'null',
  ) as unknown;
  return safe && typeof copy === 'object' && copy !== null ? copy : undefined;
}

function absolute(path: string): string {
  return path.startsWith('~') || isAbsolute(path) ? path : resolve(path);
}
