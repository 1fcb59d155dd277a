/**
 * Schemas shared by the producers' inputs: job data, and the BullMQ `JobsOptions` they
 * pass through — checked the way BullMQ checks them when it adds a job, but first, so a bad option
 * fails before anything is written. Options not named here pass through for BullMQ to use.
 */
import { z } from 'zod';
import { DESCRIPTOR_KEY } from '../model/descriptor.js';
import { jsonSafe } from '../model/job.js';

/**
 * A job's data: a plain object that JSON stores as it is (no cycles, `BigInt`s or Symbol keys,
 * nested at most 128 deep), without the reserved descriptor key.
 */
export const JobDataSchema = jsonSafe(z.record(z.string(), z.unknown()), 'data').refine(
  (data) => !Object.hasOwn(data, DESCRIPTOR_KEY),
  `data must not hold the reserved key \`${DESCRIPTOR_KEY}\``,
);

/** The latest time a JavaScript `Date` can hold, in ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

/** BullMQ's highest priority value. */
const PRIORITY_LIMIT = 2 ** 21 - 1;

/** BullMQ's failure options for children; at most one may be set. */
export const CHILD_FAILURE_OPTIONS = [
  'removeDependencyOnFailure',
  'failParentOnFailure',
  'continueParentOnFailure',
  'ignoreDependencyOnFailure',
] as const;

/**
 * Options every producer refuses: one Seenn job is one BullMQ job, so no repeats (each repetition
 * would be another BullMQ job claiming the same Seenn job; track a job scheduler's jobs with the
 * publisher's `describe` instead), and no BullMQ parent chosen by the caller (families are made by
 * `createParent`/`createChild`/`createBatch`, which set `parent` themselves).
 */
export const ALWAYS_REFUSED_OPTIONS: Readonly<Record<string, string>> = {
  repeat:
    'repeat is not supported: one Seenn job is one BullMQ job (track a job scheduler with the publisher’s describe)',
  repeatJobKey: 'repeatJobKey is not supported: one Seenn job is one BullMQ job',
  parent: 'parent is not supported: make families with createParent/createChild or createBatch',
};

/**
 * A schema of BullMQ `JobsOptions` that refuses {@link ALWAYS_REFUSED_OPTIONS} and the options
 * named in `refused` (option → why; these win), checks `delay`, `priority`, `attempts`, `timestamp`
 * (an integer ms time a `Date` can hold) and the exclusive child-failure options, and that the
 * whole object is storable as JSON (BullMQ stores it so).
 */
export function jobsOptionsSchema(refused: Readonly<Record<string, string>>) {
  const refusals = Object.fromEntries(
    Object.entries({ ...ALWAYS_REFUSED_OPTIONS, ...refused }).map(([name, why]) => [
      name,
      z.never({ error: why }).optional(),
    ]),
  );
  const options = z
    .looseObject({
      ...refusals,
      delay: z.number().finite().min(0).max(MAX_DATE_MS).optional(),
      priority: z.number().int().min(0).max(PRIORITY_LIMIT).optional(),
      attempts: z.number().int().min(0).optional(),
      timestamp: z.number().int().min(0).max(MAX_DATE_MS).optional(),
    })
    .refine((opts) => CHILD_FAILURE_OPTIONS.filter((name) => Boolean(opts[name])).length <= 1, {
      message: `at most one of ${CHILD_FAILURE_OPTIONS.join(', ')} may be set`,
    });
  return jsonSafe(options, 'opts');
}
