/**
 * The REST side of the client: `GET` a path under the bridge's base URL with the token, a timeout and
 * one retry with a fresh token after a `401`.
 */
import { SeennClientError, errorFromResponse } from './errors.js';
import type { TokenSource } from './token-source.js';

/** What {@link requestJson} needs. */
export interface HttpContext {
  baseUrl: string;
  fetch: typeof fetch;
  tokens: TokenSource;
  requestTimeoutMs: number;
}

/** `Authorization` and friends for a request that carries `token`. */
export function authHeaders(token: string | undefined, accept: string): Record<string, string> {
  const headers: Record<string, string> = { Accept: accept };
  if (token !== undefined) headers['Authorization'] = `Bearer ${token}`;
  return headers;
}

/** A request other than a `GET`: its method and JSON body. */
export interface RequestInitJson {
  method: 'POST';
  body: unknown;
}

/**
 * `GET {baseUrl}{path}` (or, with `init`, a `POST` of its JSON body) and parses the JSON body. Throws a {@link SeennClientError}: the server's
 * coded error for non-2xx answers (after one retry with a new token on `401`), `NETWORK_ERROR`,
 * `TIMEOUT` or `BAD_RESPONSE`. `signal` aborts it (the abort error is rethrown as it is).
 */
export async function requestJson(
  ctx: HttpContext,
  path: string,
  signal?: AbortSignal,
  init?: RequestInitJson,
): Promise<unknown> {
  const method = init?.method ?? 'GET';
  for (let attempt = 0; ; attempt += 1) {
    const token = await ctx.tokens.get();
    const headers = authHeaders(token, 'application/json');
    const request: RequestInit = { method, headers };
    if (init !== undefined) {
      headers['Content-Type'] = 'application/json';
      request.body = JSON.stringify(init.body);
    }
    const response = await fetchWithTimeout(ctx, `${ctx.baseUrl}${path}`, request, signal);
    if (response.status === 401 && attempt === 0 && ctx.tokens.canRefresh) {
      await response.body?.cancel().catch(() => undefined);
      ctx.tokens.invalidate(token);
      continue;
    }
    if (!response.ok) throw await errorFromResponse(response, `${method} ${path}`);
    try {
      return await response.json();
    } catch (error) {
      throw new SeennClientError('BAD_RESPONSE', `${method} ${path} did not answer JSON`, {
        status: response.status,
        cause: error,
      });
    }
  }
}

async function fetchWithTimeout(
  ctx: HttpContext,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, ctx.requestTimeoutMs);
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw signal.reason;
    return await ctx.fetch(url, { ...init, signal: controller.signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    if (timedOut)
      throw new SeennClientError('TIMEOUT', `GET ${url} took longer than ${ctx.requestTimeoutMs} ms`, { cause: error });
    throw new SeennClientError(
      'NETWORK_ERROR',
      `GET ${url} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
