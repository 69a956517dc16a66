// The two streams of a prefix and a zone's consumer, made on first use by whichever side comes
// first (coordinator or worker), the same way by both. The NATS client makes them; what is here is
// fleetsh's choice of their settings (work-queue retention, file storage, ack wait, ages).
import type { JetStreamManager } from '@nats-io/jetstream';
import { loadNats } from './nats.js';
import type { Names } from './wire.js';

/** What a worker sent back stays this long if its coordinator never read it (it died): then it goes. */
const EVENTS_MAX_AGE_MS = 60 * 60 * 1000;
/** A job nobody took within a day is stale: its coordinator is long gone. */
const JOBS_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** A file being copied stays at most this long if its coordinator died before deleting it. */
const FILES_MAX_AGE_MS = 60 * 60 * 1000;
/** The files of all coordinators of a prefix together: past this, a new file is refused (not an old one dropped). */
export const FILES_MAX_BYTES = 1024 * 1024 * 1024;

const NS = 1_000_000;

export async function ensureStreams(jsm: JetStreamManager, names: Names): Promise<void> {
  const { DiscardPolicy, RetentionPolicy, StorageType } = loadNats().jetstream;
  const want = [
    {
      name: names.jobStream,
      subjects: [names.jobSubject('*')],
      // A job is one message taken by one worker of its zone, and gone once acknowledged.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: JOBS_MAX_AGE_MS * NS,
    },
    {
      name: names.eventStream,
      subjects: [names.eventFilter('*')],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: EVENTS_MAX_AGE_MS * NS,
    },
    {
      name: names.fileStream,
      subjects: [names.fileFilter('*')],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: FILES_MAX_AGE_MS * NS,
      max_bytes: FILES_MAX_BYTES,
      discard: DiscardPolicy.New,
    },
  ];
  for (const config of want) {
    const exists = await jsm.streams.info(config.name).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    await jsm.streams.add(config).catch(async (e: unknown) => {
      // Made by another process meanwhile: fine.
      if (
        !(await jsm.streams.info(config.name).then(
          () => true,
          () => false,
        ))
      )
        throw e;
    });
  }
}

/** The durable pull consumer a zone's workers share: explicit acks, redelivery after ackWait. */
export async function ensureZoneConsumer(
  jsm: JetStreamManager,
  names: Names,
  zone: string,
  ackWaitMs: number,
): Promise<void> {
  const { AckPolicy } = loadNats().jetstream;
  const name = names.jobConsumer(zone);
  const config = {
    durable_name: name,
    filter_subject: names.jobSubject(zone),
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitMs * NS,
    max_ack_pending: 10_000,
  };
  const info = await jsm.consumers.info(names.jobStream, name).catch(() => undefined);
  if (!info) {
    await jsm.consumers.add(names.jobStream, config).catch(async (e: unknown) => {
      if (!(await jsm.consumers.info(names.jobStream, name).catch(() => undefined))) throw e;
    });
  } else if (info.config.ack_wait !== config.ack_wait) {
    await jsm.consumers.update(names.jobStream, name, { ack_wait: config.ack_wait });
  }
}
