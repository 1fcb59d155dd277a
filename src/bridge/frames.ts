/**
 * SSE frames, built with better-sse's `EventBuffer`: LF line endings, every event named, exactly one
 * single-line JSON `data:` line, an `id:` only where given (job events carry their replay-stream id;
 * `connected`, `heartbeat` and the like carry none, so they never move a client's cursor). A frame is
 * one whole event, ending with the blank line, and is written with one `write()`.
 */
import { createEventBuffer, type EventBuffer } from 'better-sse';

/** The replay-stream id format accepted as a cursor (`<ms>-<seq>`, each at most 15 digits). */
const STREAM_ID = /^\d{1,15}-\d{1,15}$/;

/** Whether `value` is a replay-stream entry id we can compare exactly. */
export function isStreamId(value: string): boolean {
  return STREAM_ID.test(value);
}

/** Compares two ids accepted by {@link isStreamId}: negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  const [aMs = '0', aSeq = '0'] = a.split('-');
  const [bMs = '0', bSeq = '0'] = b.split('-');
  return Number(aMs) - Number(bMs) || Number(aSeq) - Number(bSeq);
}

/** The parts of one SSE event. `data` is JSON text. */
export interface FrameParts {
  event: string;
  data: string;
  id?: string;
  /** The reconnection delay to suggest (`retry:`), in ms. */
  retryMs?: number;
}

/** JSON text on one line: `JSON.stringify` output already is; anything else is re-serialised. */
function singleLine(json: string): string {
  return /[\r\n]/.test(json) ? JSON.stringify(JSON.parse(json)) : json;
}

/**
 * One whole SSE event (`event:`, optional `id:` and `retry:`, one `data:`, blank line), built once and
 * written to any number of sessions with `session.batch(frame)` (one `write()` each).
 */
export type Frame = EventBuffer;

/** Formats one event as a {@link Frame}. `data` is written as given (JSON text), never re-serialised. */
export function formatFrame(parts: FrameParts): Frame {
  const buffer = createEventBuffer({ serializer: (data) => data as string });
  buffer.event(parts.event);
  if (parts.id !== undefined) buffer.id(parts.id);
  if (parts.retryMs !== undefined) buffer.retry(parts.retryMs);
  return buffer.data(singleLine(parts.data)).dispatch();
}

/** Formats an event whose payload is `value` (serialised here). */
export function formatValue(event: string, value: unknown, extra: Omit<FrameParts, 'event' | 'data'> = {}): Frame {
  return formatFrame({ event, data: JSON.stringify(value), ...extra });
}

/** The byte length of a frame on the wire. */
export function frameBytes(frame: Frame): number {
  return Buffer.byteLength(frame.read());
}
