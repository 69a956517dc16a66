// `fleetsh worker --nats URL [--zone NAME] [--concurrency N]`: a scale-out worker (src/scale-out/,
// docs/scale-out.md) until SIGINT or SIGTERM, which stop it: no new job is taken, those running
// are killed on their hosts and their ends sent, then it exits.
import { printable } from '../../process/printable.js';
import { EXIT } from '../exit-codes.js';
import { natsPasswordRefused } from '../connect.js';

export interface WorkerFlags {
  nats: string;
  zone?: string;
  concurrency?: number;
  creds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  prefix?: string;
  heartbeat?: number;
  ackWait?: number;
}

export async function workerCommand(flags: WorkerFlags): Promise<void> {
  const [{ startWorker }, { NatsUnreachableError, hasPassword }] = await Promise.all([
    import('../../scale-out/worker.js'),
    import('../../scale-out/nats.js'),
  ]);
  if (hasPassword(flags.nats)) throw natsPasswordRefused('worker --nats');
  const say = (line: string) => process.stderr.write(printable(`fleetsh worker: ${line}`) + '\n');
  const tls =
    flags.tlsCa !== undefined || flags.tlsCert !== undefined || flags.tlsKey !== undefined
      ? { ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey }
      : undefined;
  const starting = startWorker({
    servers: flags.nats,
    ...(flags.zone !== undefined ? { zone: flags.zone } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    ...(flags.creds !== undefined ? { creds: flags.creds } : {}),
    ...(tls ? { tls } : {}),
    ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}),
    ...(flags.heartbeat !== undefined ? { heartbeat: flags.heartbeat } : {}),
    ...(flags.ackWait !== undefined ? { ackWait: flags.ackWait } : {}),
    log: say,
  });
  let worker: Awaited<typeof starting>;
  try {
    worker = await starting;
  } catch (e) {
    if (!(e instanceof NatsUnreachableError)) throw e;
    say(`${e.message}: check --nats (and --creds, the TLS files)`);
    process.exitCode = EXIT.unreachable;
    return;
  }
  say(`${worker.id} ready: zone ${worker.zone}, pid ${process.pid}`);
  const stop = (signal: string) => {
    say(`${signal}: stopping (${worker.running} running)`);
    void worker.stop();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  await worker.closed;
}
