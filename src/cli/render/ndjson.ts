// --ndjson: every event of the run as one JSON line the moment it happens, with the library's event
// names and payloads (errors as their message and kind), ending with `batch:complete` carrying the
// report and then `exit` with the status fleetsh ends with.
import { FleetshError } from '../../process/errors.js';
import { writeJson } from './json.js';

export const NDJSON_EVENTS = [
  'batch:start',
  'server:start',
  'server:output',
  'server:retry',
  'server:success',
  'server:error',
  'server:skipped',
  'concurrency:change',
  'batch:complete',
] as const;

export interface EventSource {
  on(event: string, listener: (payload: Record<string, unknown>) => void): unknown;
}

export function streamEvents(
  run: EventSource,
  write: (line: string) => void,
  events: readonly string[] = NDJSON_EVENTS,
  extra: Record<string, unknown> = {},
): void {
  for (const event of events) {
    run.on(event, (payload) => {
      const fields = eventFields(event, { ...extra, ...payload });
      // A report holds every host's output (twice, with its groups): written in pieces (json.ts).
      if ('report' in payload) writeJson(fields, write, 0);
      else write(JSON.stringify(fields) + '\n');
    });
  }
}

export function eventLine(event: string, payload: Record<string, unknown>): string {
  return JSON.stringify(eventFields(event, payload)) + '\n';
}

function eventFields(event: string, payload: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = { event, time: new Date().toISOString() };
  for (const [key, value] of Object.entries(payload)) {
    if (key === 'results' && 'report' in payload) continue; // the report holds them
    if (key === 'run') continue; // a live object (rolling:batch); its events follow
    if (key === 'cause') {
      if (value instanceof FleetshError) fields.kind ??= value.kind;
      continue; // `error` already has the message
    }
    fields[key] =
      value instanceof Error ? { message: value.message, kind: (value as FleetshError).kind } : value;
  }
  return fields;
}
