/**
 * Job output streams: the chunks a job writes as it works (tokens, log lines, partial results), in
 * named streams of one job. Pure: the option defaults, the validation of a chunk and a stream name,
 * and how a chunk is encoded for storage and the wire. Chunks live beside the job's snapshot (see
 * `store/output-store.ts`), never in the user's replay stream.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { jsonProblemOf } from './job.js';

/** The stream `appendOutput` writes to when none is named. */
export const DEFAULT_OUTPUT_STREAM = 'output';

/** The largest one chunk may be, as JSON, in bytes (so one SSE frame stays small). */
export const MAX_OUTPUT_CHUNK_BYTES = 64 * 1024;

/** A stream name: 1–32 letters, digits, `_`, `.` or `-` (it becomes part of a Redis key and a query). */
export const OutputStreamNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,32}$/, 'a stream name is 1 to 32 letters, digits, _ . or -');

/** Options of `Seenn` for output streams (`new Seenn({ output })`). */
export interface OutputOptions {
  /** Bytes of output (each chunk counted as its JSON) one job may hold, over all its streams. @defaultValue 1048576 (1 MiB) */
  maxOutputBytes?: number;
  /** Chunks one job may hold, over all its streams. @defaultValue 10000 */
  maxOutputChunks?: number;
  /**
   * How long a worker's or handle's `appendOutput` calls are gathered before they are written in one
   * Redis call, in ms: the first call of a quiet job writes at once, later ones within the window go
   * together when it ends. `0` writes every call. At most 10 000.
   * @defaultValue 50
   */
  outputFlushMs?: number;
}

/** {@link OutputOptions} with every default applied. */
export type ResolvedOutputOptions = Required<OutputOptions>;

/** The defaults of {@link OutputOptions}. */
export const OUTPUT_DEFAULTS: Readonly<ResolvedOutputOptions> = Object.freeze({
  maxOutputBytes: 1024 * 1024,
  maxOutputChunks: 10_000,
  outputFlushMs: 50,
});

/** The schema of {@link OutputOptions} (validated with the other `Seenn` options). */
export const OutputOptionsSchema = z
  .object({
    maxOutputBytes: z
      .number()
      .int()
      .min(1)
      .max(512 * 1024 * 1024)
      .optional(),
    maxOutputChunks: z.number().int().min(1).max(10_000_000).optional(),
    outputFlushMs: z.number().int().min(0).max(10_000).optional(),
  })
  .strict();

/** Options of `appendOutput`. */
export interface AppendOutputOptions {
  /** The stream to append to. @defaultValue 'output' */
  stream?: string;
}

/** The schema of {@link AppendOutputOptions}. */
export const AppendOutputOptionsSchema = z.object({ stream: OutputStreamNameSchema.optional() }).strict();

/** One chunk ready to store: its stream and its JSON (single line). */
export interface EncodedChunk {
  stream: string;
  json: string;
}

/**
 * Validates one chunk of an `appendOutput(chunk, { stream })` call (its options already parsed with
 * {@link AppendOutputOptionsSchema}) and encodes it as JSON. `chunk` is a string or any JSON value;
 * throws `VALIDATION_ERROR` (not JSON) or `PAYLOAD_TOO_LARGE` (over {@link MAX_OUTPUT_CHUNK_BYTES}).
 */
export function encodeChunk(chunk: unknown, stream: string | undefined): EncodedChunk {
  if (chunk === undefined)
    throw new ValidationError('VALIDATION_ERROR', 'Invalid output chunk: a string or a JSON value is required');
  const problem = jsonProblemOf(chunk);
  if (problem !== null) throw new ValidationError('VALIDATION_ERROR', `Invalid output chunk: ${problem}`);
  const json = JSON.stringify(chunk) as string | undefined;
  if (json === undefined)
    throw new ValidationError('VALIDATION_ERROR', 'Invalid output chunk: a string or a JSON value is required');
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_OUTPUT_CHUNK_BYTES)
    throw new ValidationError(
      'PAYLOAD_TOO_LARGE',
      `Invalid output chunk: ${bytes} bytes as JSON, more than ${MAX_OUTPUT_CHUNK_BYTES}`,
      { details: { bytes, limit: MAX_OUTPUT_CHUNK_BYTES } },
    );
  return { stream: stream ?? DEFAULT_OUTPUT_STREAM, json };
}

/** One stored chunk as the REST route and the SSE event carry it. */
export interface OutputChunk {
  /** Its number in its stream, from 0, without gaps. */
  seq: number;
  /** What was appended (a string or a JSON value). */
  chunk: unknown;
}

/** The single-line JSON of a `job.output` event: `{ jobId, stream, seq, chunk }` (`chunkJson` is stored JSON). */
export function outputEventData(jobId: string, stream: string, seq: number, chunkJson: string): string {
  return `{"jobId":${JSON.stringify(jobId)},"stream":${JSON.stringify(stream)},"seq":${seq},"chunk":${chunkJson}}`;
}
