/**
 * Options of `new SeennClient(...)`, their defaults in one frozen object, and their validation
 * (done once, in the constructor). Durations are in milliseconds and say so in their names.
 */
import { SeennClientError } from './errors.js';

/** Why the client asks for a token: the first request, or a `401` on the token it had. */
export type TokenRequestReason = 'initial' | 'unauthorized';

/**
 * Returns a token for the bridge (the app's backend issues it, e.g. with `seenn.tokens.issue`).
 * Called once at first use and again after each `401`, so it can fetch a fresh one.
 */
export type TokenProvider = (context: { reason: TokenRequestReason }) => string | Promise<string>;

/** How reconnect delays are randomised (see AWS's "Exponential Backoff And Jitter"). */
export type JitterMode = 'full' | 'decorrelated';

/** Which transport the client uses. */
export type TransportMode = 'auto' | 'sse' | 'polling';

/**
 * Where the last event id is kept across page reloads: the subset of the Web Storage API the client
 * uses, so `window.localStorage` or `sessionStorage` fit as they are.
 */
export interface CursorStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Options of {@link SeennClient}. */
export interface SeennClientOptions {
  /**
   * The bridge's base URL including its base path, e.g. `https://api.example.com/v1` or, in a page
   * served by the same origin, `/v1`. Routes `/sse`, `/jobs/:id`, … are appended to it.
   */
  baseUrl: string;
  /** The token sent as `Authorization: Bearer …`: a string, or a provider called again on `401`. @defaultValue none (no header) */
  token?: string | TokenProvider;
  /** Sent as the `userId` query parameter of the stream (the bridge checks it matches the token). @defaultValue not sent */
  userId?: string;
  /** `auto` uses SSE and polls `GET /jobs/:id` while SSE is not possible; `sse` never polls; `polling` never opens SSE. @defaultValue 'auto' */
  transport?: TransportMode;
  /** First reconnect delay before jitter. @defaultValue 1000 */
  reconnectBaseMs?: number;
  /** Largest reconnect delay. @defaultValue 30000 */
  reconnectMaxMs?: number;
  /** `full`: uniform in [0, min(max, base·2ⁿ)); `decorrelated`: uniform in [base, 3·previous], capped. @defaultValue 'full' */
  jitter?: JitterMode;
  /** Give up (state `closed`, an `error` event) after this many reconnects in a row without success. @defaultValue Infinity */
  maxReconnectAttempts?: number;
  /** Reconnect when the open stream stays silent this long (the bridge sends a heartbeat every 15 s). @defaultValue 30000 */
  heartbeatTimeoutMs?: number;
  /** In `auto` mode, start polling after this many failed stream attempts in a row. @defaultValue 3 */
  sseFailuresBeforePolling?: number;
  /** When the bridge has no stream route (404/405/501 or not `text/event-stream`), try it again after this long. @defaultValue 60000 */
  sseUnavailableRetryMs?: number;
  /** Interval between two polling rounds (each round asks for every watched, unfinished job). @defaultValue 5000 */
  pollIntervalMs?: number;
  /** Timeout of one REST request. @defaultValue 15000 */
  requestTimeoutMs?: number;
  /** Most jobs kept in the cache; finished, unwatched jobs are dropped first. @defaultValue 1000 */
  cacheMaxJobs?: number;
  /** Resume from this event id on the first connection. @defaultValue the stored id, else none */
  lastEventId?: string;
  /**
   * Opt-in: keep the last event id here (e.g. `localStorage`) so a reloaded page resumes where it was:
   * the bridge then replays only what changed since, so read the jobs the page shows once
   * (`fetchJob`, `fetchJobs`; the React hooks do this). @defaultValue none
   */
  storage?: CursorStorage;
  /** The key the last event id is stored under. @defaultValue `seenn:lastEventId:<userId or 'default'>` */
  storageKey?: string;
  /** The `fetch` to use. @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch;
  /** Random numbers in [0, 1) for jitter (inject one to test or to seed). @defaultValue `Math.random` */
  random?: () => number;
}

/** The defaults of {@link SeennClientOptions}. */
export const CLIENT_DEFAULTS = Object.freeze({
  transport: 'auto' as TransportMode,
  reconnectBaseMs: 1_000,
  reconnectMaxMs: 30_000,
  jitter: 'full' as JitterMode,
  maxReconnectAttempts: Number.POSITIVE_INFINITY,
  heartbeatTimeoutMs: 30_000,
  sseFailuresBeforePolling: 3,
  sseUnavailableRetryMs: 60_000,
  pollIntervalMs: 5_000,
  requestTimeoutMs: 15_000,
  cacheMaxJobs: 1_000,
  storageKeyPrefix: 'seenn:lastEventId:',
});

/** {@link SeennClientOptions} with every default applied. */
export interface ResolvedClientOptions {
  baseUrl: string;
  token: string | TokenProvider | undefined;
  userId: string | undefined;
  transport: TransportMode;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  jitter: JitterMode;
  maxReconnectAttempts: number;
  heartbeatTimeoutMs: number;
  sseFailuresBeforePolling: number;
  sseUnavailableRetryMs: number;
  pollIntervalMs: number;
  requestTimeoutMs: number;
  cacheMaxJobs: number;
  lastEventId: string | undefined;
  storage: CursorStorage | undefined;
  storageKey: string;
  fetch: typeof fetch;
  random: () => number;
}

function invalid(message: string, option: string): SeennClientError {
  return new SeennClientError('CLIENT_CONFIG_INVALID', message, { details: { option } });
}

function positiveMs(
  options: SeennClientOptions,
  name: keyof typeof CLIENT_DEFAULTS & keyof SeennClientOptions,
  allowZero = false,
): number {
  const value = options[name] ?? CLIENT_DEFAULTS[name];
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!allowZero && value === 0)) {
    throw invalid(
      `\`${name}\` must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`,
      name,
    );
  }
  return value;
}

function positiveInteger(
  options: SeennClientOptions,
  name: 'sseFailuresBeforePolling' | 'cacheMaxJobs' | 'maxReconnectAttempts',
): number {
  const value = options[name] ?? CLIENT_DEFAULTS[name];
  if (typeof value !== 'number' || !(Number.isInteger(value) || value === Number.POSITIVE_INFINITY) || value < 1) {
    throw invalid(`\`${name}\` must be a positive integer, got ${String(value)}`, name);
  }
  return value;
}

/** Validates {@link SeennClientOptions} and applies defaults; throws a `CLIENT_CONFIG_INVALID` {@link SeennClientError}. */
export function resolveClientOptions(options: SeennClientOptions): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) throw invalid('Expected an options object', 'options');
  if (typeof options.baseUrl !== 'string' || options.baseUrl.length === 0)
    throw invalid('`baseUrl` must be a non-empty string such as "https://api.example.com/v1"', 'baseUrl');
  const {
    token,
    userId,
    transport = CLIENT_DEFAULTS.transport,
    jitter = CLIENT_DEFAULTS.jitter,
    storage,
    lastEventId,
  } = options;
  if (token !== undefined && typeof token !== 'function' && (typeof token !== 'string' || token.length === 0))
    throw invalid('`token` must be a non-empty string or a function returning one', 'token');
  if (userId !== undefined && (typeof userId !== 'string' || userId.length === 0))
    throw invalid('`userId` must be a non-empty string', 'userId');
  if (!['auto', 'sse', 'polling'].includes(transport))
    throw invalid(`\`transport\` must be 'auto', 'sse' or 'polling', got ${String(transport)}`, 'transport');
  if (!['full', 'decorrelated'].includes(jitter))
    throw invalid(`\`jitter\` must be 'full' or 'decorrelated', got ${String(jitter)}`, 'jitter');
  if (
    storage !== undefined &&
    (typeof storage?.getItem !== 'function' ||
      typeof storage.setItem !== 'function' ||
      typeof storage.removeItem !== 'function')
  ) {
    throw invalid('`storage` must have getItem, setItem and removeItem (like localStorage)', 'storage');
  }
  if (lastEventId !== undefined && typeof lastEventId !== 'string')
    throw invalid('`lastEventId` must be a string', 'lastEventId');
  const fetchImpl =
    options.fetch ?? (typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : undefined);
  if (typeof fetchImpl !== 'function') throw invalid('No `fetch` available: pass one as the `fetch` option', 'fetch');
  const random = options.random ?? Math.random;
  if (typeof random !== 'function') throw invalid('`random` must be a function returning numbers in [0, 1)', 'random');
  const resolved: ResolvedClientOptions = {
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    token,
    userId,
    transport,
    reconnectBaseMs: positiveMs(options, 'reconnectBaseMs'),
    reconnectMaxMs: positiveMs(options, 'reconnectMaxMs'),
    jitter,
    maxReconnectAttempts: positiveInteger(options, 'maxReconnectAttempts'),
    heartbeatTimeoutMs: positiveMs(options, 'heartbeatTimeoutMs'),
    sseFailuresBeforePolling: positiveInteger(options, 'sseFailuresBeforePolling'),
    sseUnavailableRetryMs: positiveMs(options, 'sseUnavailableRetryMs'),
    pollIntervalMs: positiveMs(options, 'pollIntervalMs'),
    requestTimeoutMs: positiveMs(options, 'requestTimeoutMs'),
    cacheMaxJobs: positiveInteger(options, 'cacheMaxJobs'),
    lastEventId,
    storage,
    storageKey: options.storageKey ?? `${CLIENT_DEFAULTS.storageKeyPrefix}${userId ?? 'default'}`,
    fetch: fetchImpl,
    random,
  };
  if (resolved.reconnectMaxMs < resolved.reconnectBaseMs)
    throw invalid('`reconnectMaxMs` must be at least `reconnectBaseMs`', 'reconnectMaxMs');
  return resolved;
}
