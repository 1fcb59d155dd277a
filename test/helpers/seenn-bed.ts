/**
 * Small things many Redis tests share: the coded error a call rejects with, and the "two processes"
 * bed — an API Seenn and a worker Seenn, each over its own connection (so each has its own cancel
 * subscription, as two processes would), and a BullMQ queue — closed in order with its keys deleted.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { SeennError } from '../../src/errors.js';
import type { SeennOptions } from '../../src/options.js';
import { Seenn } from '../../src/seenn.js';
import { connect, deletePrefix } from './redis.js';

/** The {@link SeennError} `promise` rejects with; anything else (or no rejection) fails the test. */
export async function rejectionOf(promise: Promise<unknown>): Promise<SeennError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SeennError) return error;
    throw error;
  }
  throw new Error('expected a rejection with a coded error');
}

/** The `code` of the {@link SeennError} `promise` rejects with. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  return (await rejectionOf(promise)).code;
}

/** An API process and a worker process over one prefix, and the queue the API adds to. */
export interface TwoProcessBed {
  redis: Redis;
  workerRedis: Redis;
  /** The producer/API process. */
  seenn: Seenn;
  /** The worker process (its own connection and cancel subscription). */
  workerSeenn: Seenn;
  queue: Queue;
  close(): Promise<void>;
}

/**
 * Opens a {@link TwoProcessBed}; `apiOptions` go to the API process's Seenn only, and
 * `workerConnectionName` names the worker process's connections (see `connect`).
 */
export function openTwoProcessBed(
  prefix: string,
  queueName: string,
  apiOptions: Partial<SeennOptions> = {},
  workerConnectionName?: string,
): TwoProcessBed {
  const redis = connect();
  const workerRedis = connect(undefined, workerConnectionName);
  const seenn = new Seenn({ ...apiOptions, connection: redis, prefix });
  const workerSeenn = new Seenn({ connection: workerRedis, prefix });
  const queue = new Queue(queueName, { connection: redis, prefix });
  return {
    redis,
    workerRedis,
    seenn,
    workerSeenn,
    queue,
    async close() {
      await queue.close();
      await seenn.close();
      await workerSeenn.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
      await workerRedis.quit();
    },
  };
}
