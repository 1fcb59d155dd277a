/**
 * The frame a bench scenario runs in: its deadline and clean-up handlers, its Redis (`REDIS_URL` or a
 * private server), a key prefix of its own, one ioredis connection and a `Seenn` over it — and the
 * teardown, in the order every scenario needs it.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Seenn } from '../../src/seenn.js';
import { installCleanup, killAll } from './processes.js';
import { benchRedis, deletePrefix, type BenchRedis } from './redis.js';

/** What {@link openScenario} needs. */
export interface ScenarioOptions {
  /** The scenario's name, in the deadline's and the signal handlers' messages. */
  name: string;
  /** After this long the scenario is aborted (children killed, exit code 1). */
  deadlineMs: number;
  /** The key prefix is `bench-<prefixTag>-<8 random hex digits>`. */
  prefixTag: string;
  /** The `Seenn`'s token secret (for scenarios that issue client tokens). */
  tokenSecret?: string;
}

/** One scenario's Redis, prefix, connection and `Seenn`. */
export interface BenchScenario {
  redisServer: BenchRedis;
  prefix: string;
  /** Its own connection (`maxRetriesPerRequest: null`, as BullMQ wants). */
  redis: Redis;
  seenn: Seenn;
  /**
   * Kills the child processes the scenario started (all but Redis), closes the `Seenn`, deletes the
   * prefix, quits the connection, stops Redis if the scenario started it and cancels the deadline.
   */
  close(): Promise<void>;
}

/** Installs the deadline, then opens the scenario's Redis, connection and `Seenn`. */
export async function openScenario(options: ScenarioOptions): Promise<BenchScenario> {
  const cancelDeadline = installCleanup(options.name, options.deadlineMs);
  const redisServer = await benchRedis();
  const prefix = `bench-${options.prefixTag}-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const seenn = new Seenn(
    options.tokenSecret === undefined
      ? { connection: redis, prefix }
      : { connection: redis, prefix, tokenSecret: options.tokenSecret },
  );
  return {
    redisServer,
    prefix,
    redis,
    seenn,
    async close() {
      killAll([redisServer.process]);
      await seenn.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
      await redisServer.stop();
      cancelDeadline();
    },
  };
}
