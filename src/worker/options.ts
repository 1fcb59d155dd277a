/**
 * Options of `seenn.processor(fn, options)`, their defaults in one frozen object, and their
 * validation (once, when the processor is made).
 */
import { z } from 'zod';
import { parseOrThrow } from '../options.js';

/** Options of `seenn.processor`. */
export interface ProcessorOptions {
  /**
   * The shortest time between two progress writes of one job, in ms. The first `setProgress` call
   * writes at once; calls inside the window are coalesced and the last value is written when the
   * window ends. `0` writes every call. At most 60 000.
   * @defaultValue 100
   */
  progressThrottleMs?: number;
}

/** {@link ProcessorOptions} with every default applied. */
export type ResolvedProcessorOptions = Required<ProcessorOptions>;

/** The defaults of {@link ProcessorOptions}. */
export const PROCESSOR_DEFAULTS: Readonly<ResolvedProcessorOptions> = Object.freeze({ progressThrottleMs: 100 });

const ProcessorOptionsSchema = z
  .object({
    progressThrottleMs: z.number().int().min(0).max(60_000).optional(),
  })
  .strict();

/** Validates {@link ProcessorOptions} and applies defaults; throws `CONFIG_INVALID` on bad input. */
export function resolveProcessorOptions(options: ProcessorOptions = {}): ResolvedProcessorOptions {
  const parsed = parseOrThrow(ProcessorOptionsSchema, options, 'processor options');
  return { progressThrottleMs: parsed.progressThrottleMs ?? PROCESSOR_DEFAULTS.progressThrottleMs };
}
