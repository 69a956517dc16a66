// One target's two transports behind one Executor: its commands and transfers go through ssh2 or
// the system ssh, as chooseTransport (transport.ts) decides once the target is resolved (its
// ssh_config read, so that what the config needs can choose). `$.ssh` shells (shell.ts) and the
// agent (agent/daemon.ts) both run their hosts through it.
import type { ExecOutcome, ExecRequest, Executor } from '../process/executor.js';
import { OpensshExecutor } from './openssh/openssh-executor.js';
import { opensshSftp } from './openssh/openssh-sftp.js';
import type { SshPool } from './pool.js';
import type { ResolveContext } from './resolve.js';
import { makeTransfers, transfersOver, type SshTransfers } from './sftp.js';
import { SshExecutor } from './ssh-executor.js';
import { chooseTransport, describeChoice, transportChoice } from './transport.js';
import type { ResolvedTarget, SshTarget } from './types.js';

export interface TargetTransportContext {
  pool: SshPool;
  resolve(): Promise<ResolvedTarget>;
  /** The target as the user gave it: its explicit options become ssh's arguments. */
  raw: SshTarget;
  /** Where `~` and relative paths of the options point (the resolve context's). */
  paths: ResolveContext;
}

export class TargetTransport implements Executor {
  readonly host: string;
  readonly ssh2: SshExecutor;
  readonly openssh: OpensshExecutor;
  /** Uploads and downloads, each through the transport the target takes. */
  readonly transfers: SshTransfers;
  readonly #ctx: TargetTransportContext;

  constructor(host: string, ctx: TargetTransportContext) {
    this.host = host;
    this.#ctx = ctx;
    this.ssh2 = new SshExecutor(host, { pool: ctx.pool, resolve: ctx.resolve });
    this.openssh = new OpensshExecutor(host, {
      masters: ctx.pool.masters,
      resolve: ctx.resolve,
      raw: ctx.raw,
      paths: ctx.paths,
    });
    const ssh2 = makeTransfers(this.ssh2);
    const openssh = transfersOver(opensshSftp(this.openssh));
    const pick = async () => ((await this.viaOpenssh()) ? openssh : ssh2);
    this.transfers = {
      uploadFile: async (...a) => (await pick()).uploadFile(...a),
      downloadFile: async (...a) => (await pick()).downloadFile(...a),
      uploadDirectory: async (...a) => (await pick()).uploadDirectory(...a),
      downloadDirectory: async (...a) => (await pick()).downloadDirectory(...a),
    };
  }

  /** The target, resolved (its ssh_config read). */
  target(): Promise<ResolvedTarget> {
    return this.#ctx.resolve();
  }

  /** Whether the target goes through the system ssh; a choice made by its ssh_config is noticed once. */
  async viaOpenssh(): Promise<boolean> {
    const target = await this.#ctx.resolve();
    const transport = chooseTransport(target);
    const choice = transportChoice(target);
    if (choice.by === 'ssh-config')
      this.#ctx.pool.notice(`${target.label}: transport ${describeChoice(choice)}`);
    return transport === 'openssh';
  }

  async ready(signal: AbortSignal): Promise<void> {
    return (await this.viaOpenssh()) ? this.openssh.ready(signal) : this.ssh2.ready(signal);
  }

  async exec(req: ExecRequest): Promise<ExecOutcome> {
    return (await this.viaOpenssh()) ? this.openssh.exec(req) : this.ssh2.exec(req);
  }
}
