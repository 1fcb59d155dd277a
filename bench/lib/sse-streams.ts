/**
 * Opening many SSE streams with plain `node:http`, for the benches' client processes
 * (`sse-clients.ts`, `output-clients.ts`): at most `inFlight` connects at once, each stream's event
 * blocks split on blank lines and handed over parsed, a stream counted as settled once its `connected`
 * event came or it gave up.
 */
import http from 'node:http';

/** Where one stream connects. */
export interface StreamTarget {
  url: string;
  token: string;
}

/** One SSE event block: its `event` name and its `data` line ('' when absent). */
export interface SseEvent {
  event: string;
  data: string;
}

/** How {@link openStreams} opens them. */
export interface OpenStreamsOptions {
  /** Streams waiting for their `connected` event at most at once. */
  inFlight: number;
  /** Tries per stream when the connection fails before `connected` (1: no retry); retry n waits 200·n ms. */
  maxAttempts: number;
  /** The client's name in its error lines on stderr. */
  label: string;
  /** Called for every event block of every stream. */
  onEvent: (event: SseEvent) => void;
}

/** Splits one event block into its `event` name and `data`. */
export function parseEvent(block: string): SseEvent {
  let event = '';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data = line.slice(5).trim();
  }
  return { event, data };
}

/** Opens one stream per target, keeping at most `options.inFlight` connects in flight. */
export function openStreams(targets: readonly StreamTarget[], options: OpenStreamsOptions): void {
  let next = 0;
  const launch = (): void => {
    const target = targets[next++];
    if (target !== undefined) open(target, options, launch);
  };
  for (let i = 0; i < Math.min(options.inFlight, targets.length); i += 1) launch();
}

/** Opens one stream; `settled` is called once, on its `connected` event or when it gave up. */
function open(target: StreamTarget, options: OpenStreamsOptions, settled: () => void, attempt = 1): void {
  let announced = false;
  const settle = (): void => {
    if (announced) return;
    announced = true;
    settled();
  };
  const request = http.get(
    target.url,
    { headers: { Authorization: `Bearer ${target.token}`, Accept: 'text/event-stream' }, agent: false },
    (response) => {
      if (response.statusCode !== 200) {
        process.stderr.write(`${options.label}: HTTP ${response.statusCode ?? '?'}\n`);
        response.resume();
        settle();
        return;
      }
      response.setEncoding('utf8');
      let buffer = '';
      response.on('data', (text: string) => {
        buffer += text;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const event = parseEvent(buffer.slice(0, end));
          options.onEvent(event);
          if (event.event === 'connected') settle();
          buffer = buffer.slice(end + 2);
        }
      });
    },
  );
  request.on('error', (error) => {
    process.stderr.write(`${options.label}: ${error.message}\n`);
    if (!announced && attempt < options.maxAttempts)
      setTimeout(() => open(target, options, settled, attempt + 1), 200 * attempt);
    else settle();
  });
}
