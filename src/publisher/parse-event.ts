/**
 * Turns a raw BullMQ events-stream entry into a {@link SourceEvent} for one job, or `null` for
 * entries that change nothing a user sees (`added`, `stalled`, `duplicated`, `drained`, …).
 */
import { streamIdTime, type SourceEvent } from '../model/source-event.js';

/** A source event with the BullMQ job id and stream entry id it came from. */
export interface QueueEvent {
  /** The events-stream entry id (idempotency key and event time). */
  id: string;
  /** The BullMQ job id. */
  bullId: string;
  event: SourceEvent;
}

/** Parses one entry of `<prefix>:<queue>:events`. */
export function parseQueueEvent(id: string, fields: readonly string[]): QueueEvent | null {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
  const bullId = map.get('jobId');
  if (bullId === undefined) return null;
  const at = streamIdTime(id);
  const event = toSourceEvent(map, at);
  return event === null ? null : { id, bullId, event };
}

function toSourceEvent(fields: Map<string, string>, at: number): SourceEvent | null {
  switch (fields.get('event')) {
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

function parseJson(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
