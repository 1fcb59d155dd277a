/**
 * Schemas shared by the producers' inputs: queue names, job data, and the BullMQ `JobsOptions` they
 * pass through — checked the way BullMQ checks them when it adds a job, but first, so a bad option
 * fails before anything is written. Options not named here pass through for BullMQ to use.
 */
import { z } from 'zod';
import { DESCRIPTOR_KEY } from '../model/descriptor.js';

/** A BullMQ queue name (no `:`). */
export const QueueNameSchema = z
  .string()
  .min(1)
  .max(200)
  .refine((name) => !name.includes(':'), 'queue names cannot contain `:`');

/** A job's data: a plain object without the reserved descriptor key. */
export const JobDataSchema = z.record(z.string(), z.unknown()).refine((data) => !Object.hasOwn(data, DESCRIPTOR_KEY), `data must not hold the reserved key \`${DESCRIPTOR_KEY}\``);

/** BullMQ's highest priority value. */
const PRIORITY_LIMIT = 2 ** 21 - 1;

/** BullMQ's failure options for children; at most one may be set. */
export const CHILD_FAILURE_OPTIONS = ['removeDependencyOnFailure', 'failParentOnFailure', 'continueParentOnFailure', 'ignoreDependencyOnFailure'] as const;

/**
 * A schema of BullMQ `JobsOptions` that refuses the options named in `refused` (option → why) and
 * checks `delay`, `priority`, `attempts` and the exclusive child-failure options.
 */
export function jobsOptionsSchema(refused: Readonly<Record<string, string>>) {
  const refusals = Object.fromEntries(Object.entries(refused).map(([name, why]) => [name, z.never({ error: why }).optional()]));
  return z
    .looseObject({
      ...refusals,
      delay: z.number().finite().min(0).optional(),
      priority: z.number().int().min(0).max(PRIORITY_LIMIT).optional(),
      attempts: z.number().int().min(0).optional(),
    })
    .refine((opts) => CHILD_FAILURE_OPTIONS.filter((name) => Boolean(opts[name])).length <= 1, {
      message: `at most one of ${CHILD_FAILURE_OPTIONS.join(', ')} may be set`,
    });
}
