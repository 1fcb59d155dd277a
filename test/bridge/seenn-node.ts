/**
 * `@seenn/node` (v0.4.0) replayed: its HTTP calls byte for byte from reference/seenn-protocol.md §1.3
 * and §4 (headers `Authorization`, `Content-Type: application/json`, `User-Agent: @seenn/node` on
 * every call; `JSON.stringify` of the SDK's own body objects, so undefined fields vanish; `{}` for
 * `complete()` without options), reading the responses as the SDK does.
 */
/** What the SDK turns an HTTP answer into: the parsed JSON of a 2xx, or the error it throws. */
export type Answer =
  | { ok: true; status: number; body: Record<string, unknown> }
  | { ok: false; status: number; code: string; message: string; details: Record<string, unknown> };

/** `@seenn/node` 0.4.0's HTTP calls, as its src/http.ts and src/client.ts / src/job.ts make them. */
export class SeennNodeReplay {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  async request(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<Answer> {
    const init: RequestInit = {
      method,
      headers: {
        Authorization: `Bearer ${this.apiKey}`,
        'Content-Type': 'application/json',
        'User-Agent': '@seenn/node',
        ...extraHeaders,
      },
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(`${this.baseUrl}${path}`, init);
    // The SDK parses every answer as JSON: a 2xx without one would be its NETWORK_ERROR.
    const json = (await response.json()) as Record<string, unknown>;
    if (response.ok) return { ok: true, status: response.status, body: json };
    const error = (json['error'] ?? {}) as { code?: string; message?: string; details?: Record<string, unknown> };
    return {
      ok: false,
      status: response.status,
      code: error.code ?? 'UNKNOWN',
      message: error.message ?? '',
      details: error.details ?? {},
    };
  }

  // jobs.start(params): POST /jobs with params verbatim.
  start(params: Record<string, unknown>): Promise<Answer> {
    return this.request('POST', '/jobs', params);
  }

  // jobs.createParent({ jobType, userId, title, childCount, childProgressMode?, metadata?, ttlSeconds? })
  createParent(params: {
    jobType: string;
    userId: string;
    title: string;
    childCount: number;
    childProgressMode?: string;
    metadata?: Record<string, unknown>;
    ttlSeconds?: number;
  }): Promise<Answer> {
    return this.request('POST', '/jobs', {
      jobType: params.jobType,
      userId: params.userId,
      title: params.title,
      totalChildren: params.childCount,
      childProgressMode: params.childProgressMode,
      metadata: params.metadata,
      ttlSeconds: params.ttlSeconds,
    });
  }

  // jobs.createChild({ parentJobId, childIndex, jobType, userId, title, metadata?, ttlSeconds? })
  createChild(params: {
    parentJobId: string;
    childIndex: number;
    jobType: string;
    userId: string;
    title: string;
    metadata?: Record<string, unknown>;
    ttlSeconds?: number;
  }): Promise<Answer> {
    return this.request('POST', '/jobs', {
      jobType: params.jobType,
      userId: params.userId,
      title: params.title,
      parentJobId: params.parentJobId,
      childIndex: params.childIndex,
      metadata: params.metadata,
      ttlSeconds: params.ttlSeconds,
    });
  }

  // jobs.createBatch: the parent, then every child in parallel, then GET the parent.
  async createBatch(params: {
    jobType: string;
    userId: string;
    parentTitle: string;
    childTitles: string[];
    childProgressMode?: string;
    metadata?: Record<string, unknown>;
    ttlSeconds?: number;
  }): Promise<{ parent: Record<string, unknown>; children: Record<string, unknown>[] }> {
    const parent = ok(
      await this.createParent({
        jobType: params.jobType,
        userId: params.userId,
        title: params.parentTitle,
        childCount: params.childTitles.length,
        childProgressMode: params.childProgressMode,
        metadata: params.metadata,
        ttlSeconds: params.ttlSeconds,
      } as Parameters<SeennNodeReplay['createParent']>[0]),
    );
    const children = await Promise.all(
      params.childTitles.map(async (title, childIndex) =>
        ok(
          await this.createChild({
            parentJobId: String(parent['id']),
            childIndex,
            jobType: params.jobType,
            userId: params.userId,
            title,
            ttlSeconds: params.ttlSeconds,
          } as Parameters<SeennNodeReplay['createChild']>[0]),
        ),
      ),
    );
    return { parent: ok(await this.get(String(parent['id']))), children };
  }

  get(id: string): Promise<Answer> {
    return this.request('GET', `/jobs/${id}`);
  }

  list(userId: string, options: { limit?: number; cursor?: string } = {}): Promise<Answer> {
    const query = new URLSearchParams({ userId });
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    return this.request('GET', `/jobs?${query.toString()}`);
  }

  getWithChildren(parentId: string): Promise<Answer> {
    return this.request('GET', `/jobs/${parentId}/children`);
  }

  // job.setProgress(p, options): { progress: p, ...options }
  setProgress(id: string, progress: number, options: Record<string, unknown> = {}): Promise<Answer> {
    return this.request('POST', `/jobs/${id}/progress`, { progress, ...options });
  }

  // job.complete(options?): options, or {}
  complete(id: string, options?: Record<string, unknown>): Promise<Answer> {
    return this.request('POST', `/jobs/${id}/complete`, options ?? {});
  }

  fail(id: string, options: Record<string, unknown>): Promise<Answer> {
    return this.request('POST', `/jobs/${id}/fail`, options);
  }

  etaGetStats(key: string): Promise<Answer> {
    return this.request('GET', `/eta/${key}`);
  }

  etaList(): Promise<Answer> {
    return this.request('GET', '/eta');
  }

  etaReset(key: string): Promise<Answer> {
    return this.request('DELETE', `/eta/${key}`);
  }
}

/** The body of a success, or a failed test. */
export function ok(answer: Answer): Record<string, unknown> {
  if (!answer.ok) throw new Error(`expected a success, got ${answer.status} ${answer.code}: ${answer.message}`);
  return answer.body;
}
