/**
 * `appendOutput(chunk, { stream })` for one job, as a worker's attempt or a handle writes it: chunks
 * are validated at once, then gathered and written in order, one Redis call per stream run, at most
 * once per `outputFlushMs` — the same rhythm as `setProgress`: a call that can go out now (nothing in
 * flight, the window over) is written at once and its caller waits for that write; a call inside the
 * window is held and its caller goes on at once, and the held chunks go together when the window
 * ends (or on `flush`). Nothing is dropped or reordered: a write that fails keeps its chunks, ahead of
 * newer ones, and the window retries them (`flush` reports the failure).
 *
 * Bounds: a chunk that would pass `maxOutputBytes` or `maxOutputChunks` (by the totals this writer
 * knows, or by the store's own count when another writer also wrote) is refused with
 * `OUTPUT_LIMIT_EXCEEDED`, and so is every later chunk of this writer: the output stops at the bound,
 * it never skips a chunk to take a smaller one.
 */
import { SeennError } from '../errors.js';
import { AppendOutputOptionsSchema, encodeChunk, type ResolvedOutputOptions } from '../model/output.js';
import { parseOrThrow } from '../options.js';
import { OUTPUT_APPEND_BATCH, type OutputStore } from '../store/output-store.js';

/** Whose output a writer appends to. */
export interface OutputTarget {
  userId: string;
  jobId: string;
}

/** What an {@link OutputWriter} needs. */
export interface OutputServices {
  store: OutputStore;
  options: ResolvedOutputOptions;
}

interface HeldChunk {
  stream: string;
  json: string;
  bytes: number;
}

/** Gathers and writes the output of one job (one attempt, or one handle). */
export class OutputWriter {
  private pending: HeldChunk[] = [];
  private pendingBytes = 0;
  /** The job's totals as the store last answered (or as this writer counted before its first write). */
  private known = { bytes: 0, chunks: 0 };
  /** Set once a chunk was refused for a bound: every later append rejects with it. */
  private refused: SeennError | undefined;
  private closedBy: (() => SeennError) | undefined;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private flushing = 0;
  private target: Promise<OutputTarget> | undefined;

  /**
   * @param services - the store and the output options
   * @param resolve - finds the job's user and id (called once, again after it rejected)
   * @param onDeferredError - told when a write of held chunks fails (their callers have gone on)
   */
  constructor(
    private readonly services: OutputServices,
    private readonly resolve: () => Promise<OutputTarget>,
    private readonly onDeferredError: (error: unknown) => void = () => undefined,
  ) {}

  /**
   * Validates and queues one chunk. Rejects, storing nothing, on bad input (`VALIDATION_ERROR`,
   * `PAYLOAD_TOO_LARGE`), when the job cannot be found (the resolver's error), past a bound
   * (`OUTPUT_LIMIT_EXCEEDED`) or after {@link close}: a rejected chunk is never stored. Otherwise
   * resolves when the chunk's write ends (when it could go out now) or at once (held for the
   * window); a write that failed keeps the chunk held for the next one.
   */
  async append(chunk: unknown, options: unknown): Promise<void> {
    const { stream } = parseOrThrow(
      AppendOutputOptionsSchema,
      options ?? {},
      'appendOutput options',
      'VALIDATION_ERROR',
    );
    const encoded = encodeChunk(chunk, stream);
    // Found once (every call waits on the same promise, so calls keep their order); a failure to find
    // the job rejects this call and stores nothing.
    await this.resolveTarget();
    if (this.closedBy !== undefined) throw this.closedBy();
    if (this.refused !== undefined) throw this.refused;
    const bytes = Buffer.byteLength(encoded.json, 'utf8');
    const { maxOutputBytes, maxOutputChunks, outputFlushMs } = this.services.options;
    const totalBytes = this.known.bytes + this.pendingBytes + bytes;
    const totalChunks = this.known.chunks + this.pending.length + 1;
    if (totalBytes > maxOutputBytes || totalChunks > maxOutputChunks) {
      this.refused = limitError(totalBytes, totalChunks, this.services.options);
      throw this.refused;
    }
    this.pending.push({ stream: encoded.stream, json: encoded.json, bytes });
    this.pendingBytes += bytes;
    if (this.flushing > 0 || this.timer !== undefined || this.inFlight !== undefined) return;
    if (Date.now() - this.lastWriteAt < outputFlushMs) {
      this.arm();
      return;
    }
    try {
      await this.writePending();
    } catch (error) {
      if (error === this.refused) throw error;
      // Redis failed: the chunk stays held (the window retries it, `flush` reports it); the caller
      // must not append it again, so this call does not reject.
      this.onDeferredError(error);
    }
  }

  /**
   * Writes everything held now, after the write in flight. Rejects with the error of a write that
   * failed (its chunks stay held). Chunks refused at a bound are not an error here: their refusal
   * went to `append` callers (and to `onDeferredError` for held ones), so a job at its bound can end.
   */
  async flush(): Promise<void> {
    this.flushing += 1;
    try {
      for (;;) {
        this.clearTimer();
        if (this.inFlight !== undefined) {
          await this.inFlight.catch(() => undefined);
          continue;
        }
        if (this.pending.length === 0) break;
        await this.writePending().catch((error: unknown) => {
          if (error !== this.refused) throw error;
          this.onDeferredError(error);
        });
      }
    } finally {
      this.flushing -= 1;
    }
  }

  /**
   * Sets the TTL of the job's output keys (`ttlMs`), when this writer wrote any: how an attempt that
   * ends its job hands its output the finished job's retention.
   */
  async expire(ttlMs: number): Promise<void> {
    if (this.target === undefined) return;
    const { userId, jobId } = await this.target;
    await this.services.store.expire(userId, jobId, ttlMs);
  }

  /** Refuses every later append with `error()` (the job ended through this handle). Held chunks stay for {@link flush}. */
  close(error: () => SeennError): void {
    this.closedBy = error;
  }

  private arm(): void {
    const waitMs = Math.max(0, this.lastWriteAt + this.services.options.outputFlushMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writePending().catch(this.onDeferredError);
    }, waitMs);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private resolveTarget(): Promise<OutputTarget> {
    if (this.target === undefined) {
      const found = this.resolve();
      this.target = found;
      found.catch(() => {
        if (this.target === found) this.target = undefined;
      });
    }
    return this.target;
  }

  /** Writes the held chunks in order, one script call per run of one stream; arms the window for chunks held meanwhile. */
  private async writePending(): Promise<void> {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingBytes = 0;
    this.lastWriteAt = Date.now();
    const running = this.writeBatch(batch);
    this.inFlight = running;
    try {
      await running;
    } finally {
      this.inFlight = undefined;
      if (this.pending.length > 0 && this.flushing === 0 && this.timer === undefined && this.refused === undefined)
        this.arm();
    }
  }

  private async writeBatch(batch: HeldChunk[]): Promise<void> {
    let at = 0;
    try {
      const { userId, jobId } = await this.resolveTarget();
      while (at < batch.length) {
        const stream = (batch[at] as HeldChunk).stream;
        let end = at;
        while (end < batch.length && end - at < OUTPUT_APPEND_BATCH && (batch[end] as HeldChunk).stream === stream)
          end += 1;
        const result = await this.services.store.append(
          userId,
          jobId,
          stream,
          batch.slice(at, end).map((chunk) => chunk.json),
        );
        this.known = { bytes: result.bytes, chunks: result.chunks };
        if (result.accepted < end - at) {
          // Another writer filled the job's output: this chunk and every later one are refused.
          this.refused = limitError(
            result.bytes + (batch[at + result.accepted] as HeldChunk).bytes,
            result.chunks + 1,
            this.services.options,
          );
          this.pending = [];
          this.pendingBytes = 0;
          throw this.refused;
        }
        at = end;
      }
    } catch (error) {
      if (this.refused === undefined || error !== this.refused) {
        // Keep what was not written, ahead of what was held meanwhile.
        const rest = batch.slice(at);
        this.pending = [...rest, ...this.pending];
        this.pendingBytes = this.pending.reduce((sum, chunk) => sum + chunk.bytes, 0);
      }
      throw error;
    }
  }
}

function limitError(bytes: number, chunks: number, options: ResolvedOutputOptions): SeennError {
  return new SeennError(
    'OUTPUT_LIMIT_EXCEEDED',
    `a job holds at most ${options.maxOutputBytes} bytes and ${options.maxOutputChunks} chunks of output`,
    {
      details: { maxOutputBytes: options.maxOutputBytes, maxOutputChunks: options.maxOutputChunks, bytes, chunks },
    },
  );
}
