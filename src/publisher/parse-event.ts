/**
 * Turns a raw BullMQ events-stream entry into a {@link SourceEvent} for one job, or `null` for
 * entries that change nothing a user sees (`added`, `stalled`, `duplicated`, `drained`, …).
 */
import type { SourceEvent } from '../model/source-event.js';
import { streamIdTime } from '../model/wire.js';

/** A source event with the BullMQ job id and stream entry id it came from. */
export interface QueueEvent {
  /** The events-stream entry id (idempotency key and event time). */
  id: string;
  /** The BullMQ job id. */
  bullId: string;
  event: SourceEvent;
}

/** Parses one entry of `<prefix>:<queue>:events`, the entry of job `bullId` (its {@link entryJobId}). */
export function parseQueueEvent(id: string, bullId: string, fields: readonly string[]): QueueEvent | null {
  const event = toSourceEvent(new EntryFields(fields), id);
  return event === null ? null : { id, bullId, event };
}

/**
 * The BullMQ job id of an events-stream entry (`undefined` for entries of no job): all a reader needs
 * to tell whether the entry is its own before parsing the rest.
 */
export function entryJobId(fields: readonly string[]): string | undefined {
  return new EntryFields(fields).get('jobId');
}

/** A stream entry's fields, looked up in place (an entry has a handful: no map is built). */
class EntryFields {
  constructor(private readonly fields: readonly string[]) {}

  /** The value of the field named `name` (the last one, should it repeat, as a Map built in order would keep). */
  get(name: string): string | undefined {
    let found: string | undefined;
    for (let i = 0; i + 1 < this.fields.length; i += 2) if (this.fields[i] === name) found = this.fields[i + 1];
    return found;
  }
}

function toSourceEvent(fields: EntryFields, id: string): SourceEvent | null {
  const kind = fields.get('event');
  // Entries nobody sees (`added`, `stalled`, `drained`, …) cost no more than this.
  if (kind === undefined || !SOURCE_KINDS.has(kind)) return null;
  const at = streamIdTime(id);
  switch (kind) {
    case 'waiting': {
      const prev = fields.get('prev');
      return prev === undefined ? { kind: 'waiting', at } : { kind: 'waiting', at, prev };
    }
    case 'delayed':
      return { kind: 'delayed', at, runAt: Number(fields.get('delay') ?? at) };
    case 'waiting-children':
      return { kind: 'waiting-children', at };
    case 'active':
      return { kind: 'active', at };
    case 'progress':
      return { kind: 'progress', at, data: parseJson(fields.get('data')) };
    case 'completed':
      return { kind: 'completed', at, returnvalue: parseJson(fields.get('returnvalue')) };
    case 'failed':
      return { kind: 'failed', at, reason: fields.get('failedReason') ?? '' };
    case 'removed':
      return { kind: 'removed', at };
    default:
      return null;
  }
}

const SOURCE_KINDS: ReadonlySet<string> = new Set([
  'waiting',
  'delayed',
  'waiting-children',
  'active',
  'progress',
  'completed',
  'failed',
  'removed',
]);

function parseJson(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
