/**
 * One Server-Sent Events connection over `fetch` (so it can send `Authorization` and
 * `Last-Event-ID` headers, which `EventSource` cannot). Framing is parsed by `eventsource-parser`,
 * the spec-following parser of the `eventsource` package. Reconnecting is the caller's job.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { SeennClientError, errorFromResponse } from './errors.js';

/** How one connection ended. */
export type StreamOutcome =
  /** It opened and the server closed it (or the body failed mid-stream). */
  | { kind: 'ended'; error?: unknown }
  /** `401`: the token was refused. */
  | { kind: 'unauthorized'; error: SeennClientError }
  /** The route does not serve an event stream (404, 405, 501, or another content type). */
  | { kind: 'unavailable'; error: SeennClientError }
  /** An answer that retrying cannot fix (400, 403, other 4xx). */
  | { kind: 'rejected'; error: SeennClientError }
  /** A network error, a 5xx or a 429 before the stream opened; `retryAfterMs` from `Retry-After`. */
  | { kind: 'failed'; error: SeennClientError; retryAfterMs?: number }
  /** `signal` aborted it. */
  | { kind: 'aborted' };

/** What {@link runEventStream} needs. */
export interface EventStreamRequest {
  url: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  signal: AbortSignal;
  /** Called once the answer is a `200 text/event-stream`. */
  onOpen: () => void;
  /** Called for every event (named or not) in order. */
  onEvent: (message: EventSourceMessage) => void;
}

/** Whether this runtime can read a `fetch` body as a stream (every current browser and Node ≥ 18 can). */
export function canStreamFetch(): boolean {
  return (
    typeof ReadableStream === 'function' &&
    typeof TextDecoder === 'function' &&
    typeof Response === 'function' &&
    'body' in Response.prototype
  );
}

/** Opens the stream, feeds its events to `onEvent` until it ends, and says how it ended. Never throws. */
export async function runEventStream(request: EventStreamRequest): Promise<StreamOutcome> {
  const { url, headers, signal } = request;
  let response: Response;
  try {
    response = await request.fetch(url, {
      headers: { ...headers, Accept: 'text/event-stream', 'Cache-Control': 'no-cache' },
      signal,
      cache: 'no-store',
    });
  } catch (error) {
    if (signal.aborted) return { kind: 'aborted' };
    return {
      kind: 'failed',
      error: new SeennClientError(
        'NETWORK_ERROR',
        `Event stream request failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      ),
    };
  }
  const { status } = response;
  if (status !== 200) {
    const error = await errorFromResponse(response, 'GET event stream');
    if (status === 401) return { kind: 'unauthorized', error };
    if (status === 404 || status === 405 || status === 501) return { kind: 'unavailable', error };
    if (status === 429 || status === 408 || status >= 500) {
      const retryAfterMs = parseRetryAfterMs(response.headers.get('retry-after'));
      return retryAfterMs === undefined ? { kind: 'failed', error } : { kind: 'failed', error, retryAfterMs };
    }
    return { kind: 'rejected', error };
  }
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.toLowerCase().startsWith('text/event-stream') || response.body === null) {
    await response.body?.cancel().catch(() => undefined);
    return {
      kind: 'unavailable',
      error: new SeennClientError('SSE_UNAVAILABLE', `Expected text/event-stream, got "${contentType}"`, { status }),
    };
  }
  request.onOpen();
  const parser = createParser({ onEvent: request.onEvent });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
      if (signal.aborted) break;
    }
    return signal.aborted ? { kind: 'aborted' } : { kind: 'ended' };
  } catch (error) {
    return signal.aborted ? { kind: 'aborted' } : { kind: 'ended', error };
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds, or `undefined`. */
export function parseRetryAfterMs(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
