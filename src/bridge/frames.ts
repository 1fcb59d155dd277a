/**
 * SSE frames in the exact format better-sse's `EventBuffer` writes (`field:value`, LF line endings):
 * every event named, exactly one single-line JSON `data:` line, an `id:` only where given (job events
 * carry their replay-stream id; `connected`, `heartbeat` and the like carry none, so they never move a
 * client's cursor). A frame is one whole event, ending with the blank line, encoded to bytes ONCE and
 * written with one `write()` to any number of streams.
 */

/** The replay-stream id format accepted as a cursor (`<ms>-<seq>`, each at most 15 digits). */
const STREAM_ID = /^\d{1,15}-\d{1,15}$/;

/** Whether `value` is a replay-stream entry id we can compare exactly. */
export function isStreamId(value: string): boolean {
  return STREAM_ID.test(value);
}

/** The parts of one SSE event. `data` is JSON text. */
export interface FrameParts {
  event: string;
  data: string;
  id?: string;
  /** The reconnection delay to suggest (`retry:`), in ms. */
  retryMs?: number;
}

/**
 * One whole SSE event, encoded (UTF-8) once and written as is, with one `write()`, to every stream
 * it goes to: `bytes` on any response, or `chunk` (the same bytes framed as one HTTP/1.1 chunk,
 * `<size>\r\n<bytes>\r\n`) straight to the socket of a chunked response. `bytes` is a view into
 * `chunk`: one allocation per frame.
 */
export class Frame {
  /** The event as one HTTP/1.1 chunk. */
  readonly chunk: Buffer;
  /** The event itself. */
  readonly bytes: Buffer;

  /**
   * @param text - one whole SSE event
   * @param event - its event name (what metrics count it as)
   */
  constructor(
    text: string,
    readonly event: string,
  ) {
    const size = Buffer.byteLength(text, 'utf8');
    const head = `${size.toString(16)}\r\n`;
    this.chunk = Buffer.from(`${head}${text}\r\n`, 'utf8');
    this.bytes = this.chunk.subarray(head.length, head.length + size);
  }
}

/** Characters that would end an SSE field early. */
const LINE_BREAK = /[\r\n]/;

/** JSON text on one line: `JSON.stringify` output already is; anything else is re-serialised. */
function singleLine(json: string): string {
  return LINE_BREAK.test(json) ? JSON.stringify(JSON.parse(json)) : json;
}

/** A field value that cannot break the frame (event names and ids are ours; this is a guard). */
function fieldValue(value: string): string {
  return LINE_BREAK.test(value) ? value.replace(/[\r\n]+/g, ' ') : value;
}

/** Formats one event as a {@link Frame}. `data` is written as given (JSON text), never re-serialised. */
export function formatFrame(parts: FrameParts): Frame {
  let text = `event:${fieldValue(parts.event)}\n`;
  if (parts.id !== undefined) text += `id:${fieldValue(parts.id)}\n`;
  if (parts.retryMs !== undefined) text += `retry:${Math.trunc(parts.retryMs)}\n`;
  text += `data:${singleLine(parts.data)}\n\n`;
  return new Frame(text, parts.event);
}

/** Formats an event whose payload is `value` (serialised here). */
export function formatValue(event: string, value: unknown, extra: Omit<FrameParts, 'event' | 'data'> = {}): Frame {
  return formatFrame({ event, data: JSON.stringify(value), ...extra });
}

/** The byte length of a frame on the wire. */
export function frameBytes(frame: Frame): number {
  return frame.bytes.length;
}
