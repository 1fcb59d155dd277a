/**
 * The contract every route table of the package keeps over HTTP (issue 17, item 3), as one suite run
 * against each Express adapter's real server (`route-contract.test.ts` for the bridge,
 * `test/admin/route-contract.test.ts` for the admin route): coded JSON errors for an unknown path, a
 * wrong method, a malformed path, bad input and missing or wrong credentials, and JSON answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** One adapter's server and the requests that exercise its table. */
export interface ContractTarget {
  /** The URL the table is mounted at, e.g. `http://127.0.0.1:1234/v1`. */
  baseUrl: string;
  /** Headers of valid credentials. */
  credentials: Record<string, string>;
  /** Headers of credentials the table refuses. */
  wrongCredentials: Record<string, string>;
  /** A GET route answering 200 JSON with valid credentials. */
  okPath: string;
  /** A GET request answering 400 `VALIDATION_ERROR` with valid credentials. */
  badInputPath: string;
  /** A GET route with one parameter, written `:param` (e.g. `/jobs/:param`). */
  paramRoute: string;
  /** A path the table serves, and a method it does not serve it with. */
  wrongMethod: { method: string; path: string };
  /** Whether an unknown path is answered only after the credentials are checked (the admin's guards). */
  guardsUnknownPaths: boolean;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Asserts `answer` is the JSON envelope of `code` with `status`. */
function expectError(answer: Answer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json; charset=utf-8$/);
  const body = JSON.parse(answer.text) as { error: { code: string; message: string; details: unknown } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(typeof body.error.details).toBe('object');
  expect(answer.headers.get('cache-control')).toBe('no-store');
}

/** Registers the contract's tests for the target `start()` gives. */
export function routeContract(name: string, start: () => Promise<ContractTarget>): void {
  describe(`route contract: ${name}`, () => {
    let target: ContractTarget;
    beforeAll(async () => {
      target = await start();
    });
    afterAll(() => target?.close());

    it('answers a known route with JSON', async () => {
      const answer = await call(`${target.baseUrl}${target.okPath}`, { headers: target.credentials });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json; charset=utf-8$/);
      expect(Number(answer.headers.get('content-length'))).toBe(Buffer.byteLength(answer.text));
      JSON.parse(answer.text);
    });

    it('answers HEAD on a GET route with the GET status and no body', async () => {
      const answer = await call(`${target.baseUrl}${target.okPath}`, { method: 'HEAD', headers: target.credentials });
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('');
    });

    it('answers an unknown path 404 NOT_FOUND', async () => {
      const answer = await call(`${target.baseUrl}/no/such/route`, { headers: target.credentials });
      expectError(answer, 404, 'NOT_FOUND');
    });

    it('answers a known path with another method 405 METHOD_NOT_ALLOWED, with Allow', async () => {
      const { method, path } = target.wrongMethod;
      const answer = await call(`${target.baseUrl}${path}`, { method, headers: target.credentials });
      expectError(answer, 405, 'METHOD_NOT_ALLOWED');
      expect(answer.headers.get('allow')).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
      expect(answer.headers.get('allow')?.split(', ')).not.toContain(method);
      const { error } = JSON.parse(answer.text) as { error: { details: { allow: string[] } } };
      expect(error.details.allow).toEqual(answer.headers.get('allow')?.split(', '));
    });

    it('answers bad input 400 VALIDATION_ERROR', async () => {
      const answer = await call(`${target.baseUrl}${target.badInputPath}`, { headers: target.credentials });
      expectError(answer, 400, 'VALIDATION_ERROR');
    });

    it('answers a path parameter that is not valid percent-encoding 400 VALIDATION_ERROR', async () => {
      const answer = await call(`${target.baseUrl}${target.paramRoute}`.replace(':param', '%ZZ'), {
        headers: target.credentials,
      });
      expectError(answer, 400, 'VALIDATION_ERROR');
    });

    it('answers a request without credentials 401 UNAUTHORIZED with a challenge', async () => {
      const answer = await call(`${target.baseUrl}${target.okPath}`);
      expectError(answer, 401, 'UNAUTHORIZED');
      expect(answer.headers.get('www-authenticate')).toMatch(/^(Bearer|Basic)/);
    });

    it('answers refused credentials 401 UNAUTHORIZED', async () => {
      const answer = await call(`${target.baseUrl}${target.okPath}`, { headers: target.wrongCredentials });
      expectError(answer, 401, 'UNAUTHORIZED');
    });

    it('checks credentials before telling which paths exist, where the table guards them', async () => {
      const answer = await call(`${target.baseUrl}/no/such/route`);
      if (target.guardsUnknownPaths) expectError(answer, 401, 'UNAUTHORIZED');
      else expectError(answer, 404, 'NOT_FOUND');
    });
  });
}
