/**
 * `GET /jobs/:id/output?stream=&after=&limit=`: a page of one output stream of a job the principal
 * may see (404 otherwise, as for the job itself): `{ chunks: [{ seq, chunk }], next?, done }`.
 * `next` is the `after` of the next page when more chunks are stored now; `done` is true once the job
 * has finished, when its output is final (a job's output is written before it ends).
 */
import type { Principal } from '../auth/tokens.js';
import { SeennError } from '../errors.js';
import { isTerminal } from '../model/job.js';
import { DEFAULT_OUTPUT_STREAM, OutputStreamNameSchema, type OutputChunk } from '../model/output.js';
import type { OutputStore } from '../store/output-store.js';
import { getJob, type RestJobReader } from './rest.js';

/** The answer of `GET /jobs/:id/output`. */
export interface OutputPageBody {
  chunks: OutputChunk[];
  /** Pass as `after` for the next page; absent when this page reaches the end of what is stored. */
  next?: number;
  /** The job has finished: nothing will be appended any more. */
  done: boolean;
}

/** Chunks per page when `limit` is not given. */
export const OUTPUT_PAGE_DEFAULT = 100;
/** The largest `limit`. */
export const OUTPUT_PAGE_MAX = 1_000;

/** `GET /jobs/:id/output`: validates the query, checks the job is the principal's, reads one page. */
export async function getOutput(
  jobs: RestJobReader,
  output: OutputStore,
  principal: Principal,
  jobId: string,
  query: URLSearchParams,
): Promise<OutputPageBody> {
  const streamText = query.get('stream') ?? DEFAULT_OUTPUT_STREAM;
  const afterText = query.get('after') ?? '-1';
  const limitText = query.get('limit') ?? String(OUTPUT_PAGE_DEFAULT);
  if (!OutputStreamNameSchema.safeParse(streamText).success)
    throw new SeennError('VALIDATION_ERROR', '`stream` must be 1 to 32 letters, digits, _ . or -', {
      details: { stream: streamText },
    });
  if (!/^(-1|0|[1-9]\d{0,8})$/.test(afterText))
    throw new SeennError('VALIDATION_ERROR', '`after` must be an integer from -1', { details: { after: afterText } });
  if (!/^[1-9]\d{0,3}$/.test(limitText) || Number(limitText) > OUTPUT_PAGE_MAX)
    throw new SeennError('VALIDATION_ERROR', `\`limit\` must be an integer from 1 to ${OUTPUT_PAGE_MAX}`, {
      details: { limit: limitText },
    });
  // The job first: when it has finished, the chunks read after it are all there will ever be.
  const job = await getJob(jobs, principal, jobId);
  const page = await output.read(job.userId, job.id, streamText, Number(afterText), Number(limitText));
  const chunks = page.chunks.map((json, i) => ({ seq: page.firstSeq + i, chunk: JSON.parse(json) as unknown }));
  const last = page.firstSeq + page.chunks.length - 1;
  const body: OutputPageBody = { chunks, done: isTerminal(job.status) };
  if (last + 1 < page.length) body.next = last;
  return body;
}
