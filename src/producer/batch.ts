/**
 * `seenn.jobs.createBatch(input)`: a parent and all its children at once. Every first snapshot (the
 * parent's and the children's) is written in ONE commit before BullMQ sees any job, so a publisher
 * always finds them; then the children are added to their queues (in parallel, processable at once).
 *
 * By default the parent is a Seenn-only job that completes by itself when its children have
 * finished. With `parentJob` it is also a BullMQ job that runs after its children (a FlowProducer
 * flow), and it completes when its own processor does.
 */
import { FlowProducer, type FlowJob, type JobsOptions } from 'bullmq';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { newJobId } from '../model/ids.js';
import type { SeennJob } from '../model/job.js';
import type { ParentSpec } from '../model/parent.js';
import { jobEventOf, type JobRecord } from '../model/record.js';
import { parseOrThrow } from '../options.js';
import { withParentChanges } from '../store/family.js';
import { CreateBatchInputSchema, type CreateBatchInput, type ParsedBatchInput } from './batch-input.js';
import { CHILD_FAILURE_OPTIONS } from './input-schemas.js';
import { markEnqueueFailed, planJob, plannedJobData, seennParentRecord, type PlannedJob } from './batch-records.js';

/** What `seenn.jobs.createBatch` returns: the parent and its children (by `childIndex`) as stored. */
export interface Batch {
  parent: SeennJob;
  children: SeennJob[];
}

const flowProducers = new WeakMap<SeennContext, FlowProducer>();

/**
 * Creates a batch (see the module comment). Bad input throws a `VALIDATION_ERROR` (or
 * `PAYLOAD_TOO_LARGE`) and writes nothing. If BullMQ refuses children, they turn `failed`
 * (`ENQUEUE_FAILED`, counted by the parent under its failure policy; with `parentJob` the parent
 * fails too) and BullMQ's error is rethrown.
 */
export async function createBatch(ctx: SeennContext, input: CreateBatchInput): Promise<Batch> {
  const parsed = parseOrThrow(CreateBatchInputSchema, input, 'jobs.createBatch input', 'VALIDATION_ERROR');
  const secret = await ctx.store.descriptorSecret();
  const nowMs = Date.now();
  const parentId = newJobId();
  const spec: ParentSpec = {
    total: childSpecs(parsed).length,
    mode: parsed.childProgressMode,
    failParentOnChildFailure: parsed.failParentOnChildFailure,
  };
  const fields = {
    userId: parsed.userId,
    jobType: parsed.jobType,
    title: parsed.parentTitle,
    metadata: parsed.metadata,
    workflowId: parsed.workflowId,
  };
  const flowParent =
    parsed.parentJob === undefined
      ? null
      : planJob(
          ctx.options.appId,
          secret,
          parentId,
          fields,
          { children: spec },
          parsed.queue,
          parsed.parentJob.opts as JobsOptions | undefined,
          nowMs,
        );
  const parent: JobRecord = flowParent?.record ?? seennParentRecord(parentId, ctx.options.appId, fields, spec, nowMs);
  const children = childSpecs(parsed).map((child, childIndex) => {
    const link =
      child.weight === undefined
        ? { parentJobId: parentId, childIndex }
        : { parentJobId: parentId, childIndex, weight: child.weight };
    const opts = { ...(parsed.opts as JobsOptions | undefined), ...(child.opts as JobsOptions | undefined) };
    if (flowParent !== null && !CHILD_FAILURE_OPTIONS.some((name) => Boolean(opts[name]))) {
      if (spec.failParentOnChildFailure) opts.failParentOnFailure = true;
      else opts.ignoreDependencyOnFailure = true;
    }
    const childFields = {
      userId: parsed.userId,
      jobType: child.jobType ?? parsed.jobType,
      title: child.title,
      metadata: child.metadata,
    };
    return {
      planned: planJob(
        ctx.options.appId,
        secret,
        newJobId(),
        childFields,
        { parent: link },
        child.queue ?? parsed.queue,
        opts,
        nowMs,
      ),
      data: child.data,
    };
  });

  const userId = parsed.userId;
  await ctx.store.setOwners(userId, [parentId, ...children.map(({ planned }) => planned.record.job.id)]);
  const changes = withParentChanges(
    children.map(({ planned }) => ({
      change: { expectedVersion: 0, record: planned.record, event: jobEventOf(planned.record.job), index: true },
      previous: null,
    })),
    { record: parent, version: 0 },
    nowMs,
  );
  const answer = await ctx.store.commitNew(userId, changes);
  if (answer.status !== 'ok')
    throw new SeennError('STORE_ERROR', `the first snapshots of batch ${parentId} were refused (${answer.status})`, {
      details: { jobId: parentId },
    });
  const committedParent = (changes[0] as { record: JobRecord }).record;

  if (flowParent === null) await addChildren(ctx, userId, parentId, children);
  else await addFlow(ctx, userId, flowParent, parsed.parentJob?.data, children);
  return { parent: committedParent.job, children: children.map(({ planned }) => planned.record.job) };
}

/** The children of a batch, whichever way they were given. */
function childSpecs(parsed: ParsedBatchInput): NonNullable<ParsedBatchInput['children']> {
  return parsed.children ?? (parsed.childTitles ?? []).map((title) => ({ title }));
}

/** A child planned for BullMQ with its worker data. */
interface PlannedChild {
  planned: PlannedJob;
  data: Record<string, unknown> | undefined;
}

/** Adds children to their queues, one `addBulk` per queue; children of a refused queue turn failed. */
async function addChildren(
  ctx: Pick<SeennContext, 'queue' | 'store' | 'logger'>,
  userId: string,
  parentId: string,
  children: readonly PlannedChild[],
): Promise<void> {
  const byQueue = new Map<string, PlannedChild[]>();
  for (const child of children) {
    const list = byQueue.get(child.planned.queue) ?? [];
    list.push(child);
    byQueue.set(child.planned.queue, list);
  }
  const groups = [...byQueue];
  const results = await Promise.allSettled(
    groups.map(([queue, list]) =>
      ctx.queue(queue).addBulk(
        list.map(({ planned, data }) => ({
          name: planned.descriptor.jobType,
          data: plannedJobData(planned, data),
          opts: planned.opts,
        })),
      ),
    ),
  );
  const refused: string[] = [];
  let firstError: unknown;
  for (const [i, result] of results.entries()) {
    if (result.status === 'fulfilled') continue;
    firstError ??= result.reason;
    for (const { planned } of groups[i]?.[1] ?? []) refused.push(planned.record.job.id);
  }
  if (refused.length === 0) return;
  await markEnqueueFailed(ctx, userId, parentId, refused, firstError, false);
  throw firstError;
}

/** Adds the whole tree as one FlowProducer flow (atomic in BullMQ); if refused, the batch turns failed. */
async function addFlow(
  ctx: SeennContext,
  userId: string,
  parent: PlannedJob,
  parentData: Record<string, unknown> | undefined,
  children: readonly PlannedChild[],
): Promise<void> {
  const flow: FlowJob = {
    name: parent.descriptor.jobType,
    queueName: parent.queue,
    data: plannedJobData(parent, parentData),
    opts: parent.opts,
    children: children.map(({ planned, data }) => ({
      name: planned.descriptor.jobType,
      queueName: planned.queue,
      data: plannedJobData(planned, data),
      opts: planned.opts,
    })),
  };
  try {
    await flowProducer(ctx).add(flow);
  } catch (error) {
    await markEnqueueFailed(
      ctx,
      userId,
      parent.record.job.id,
      children.map(({ planned }) => planned.record.job.id),
      error,
      true,
    );
    throw error;
  }
}

/** The context's FlowProducer, created once and closed with it. */
function flowProducer(ctx: SeennContext): FlowProducer {
  let producer = flowProducers.get(ctx);
  if (producer === undefined) {
    const created = new FlowProducer({ connection: ctx.redis, prefix: ctx.options.prefix });
    created.on('error', (error: Error) => ctx.logger.warn({ err: error }, 'flow producer error'));
    ctx.onClose(() => created.close());
    flowProducers.set(ctx, created);
    producer = created;
  }
  return producer;
}
