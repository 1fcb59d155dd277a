/**
 * Liveness and readiness of one Seenn instance, for orchestrators (Kubernetes probes, load-balancer
 * checks):
 * - liveness: the process answers (no I/O, never fails while the event loop turns);
 * - readiness: Redis answers a PING within {@link HEALTH_DEFAULTS.redisTimeoutMs}; every bridge of
 *   this instance has its live subscription up (or has no stream yet, so needs none); every
 *   publisher runs: per queue it reads (holds partitions) or stands by (others hold them all). A publisher
 *   not started yet, or closed, is `stopped` and fails readiness.
 * The report names each part and what failed; `seenn.healthHandler()` answers it as JSON, 503 when
 * not ready.
 */
import type { Publisher } from '../publisher/index.js';
import type { BridgeRegistration } from './bridge-registry.js';
import { HEALTH_DEFAULTS } from './options.js';

/** One checked part. */
export type HealthCheck =
  | { name: 'redis'; ok: boolean; latencyMs?: number; error?: string }
  | { name: 'bridge'; ok: boolean; id: string; subscribed: boolean; streams: number; error?: string }
  | { name: 'publisher'; ok: boolean; queues: Record<string, PublisherQueueState>; error?: string };

/**
 * A publisher's part in one queue: `reading` (it holds some of the queue's partitions and reads their
 * events), `standby` (started, holding none while other publishers hold them all) or `stopped` (not
 * started yet, or closed).
 */
export type PublisherQueueState = 'reading' | 'standby' | 'stopped';

/** Where a publisher's run is: not started yet, started, or closed. */
export type PublisherRun = 'new' | 'started' | 'closed';

/** What a probe answers. */
export interface HealthReport {
  /** `ok`, or `unavailable` when a check failed (HTTP 503). */
  status: 'ok' | 'unavailable';
  /** `liveness` or `readiness`. */
  probe: HealthProbe;
  checks: HealthCheck[];
}

/** Which probe: `liveness` (the process answers) or `readiness` (it can serve). */
export type HealthProbe = 'liveness' | 'readiness';

/** What readiness needs of a bridge. */
export interface BridgeHealthSource {
  readonly stats: { streams: number; hub: { subscribed: boolean; listeners: number } };
}

/** The parts of one Seenn instance that readiness checks. */
export class Health {
  private readonly bridges = new Set<{ bridge: BridgeHealthSource; registration: BridgeRegistration }>();
  private readonly publishers = new Map<Publisher, { leases: Map<string, boolean>; run: () => PublisherRun }>();

  /**
   * @param ping - answers once Redis answered a PING (`pingRedis` of `store/connection-set.ts` on the command connection)
   * @param redisTimeoutMs - how long a PING may take
   */
  constructor(
    private readonly ping: () => Promise<unknown>,
    private readonly redisTimeoutMs: number = HEALTH_DEFAULTS.redisTimeoutMs,
  ) {}

  /** Checks `bridge` from now on (until the returned function is called). */
  addBridge(bridge: BridgeHealthSource, registration: BridgeRegistration): () => void {
    const entry = { bridge, registration };
    this.bridges.add(entry);
    return () => this.bridges.delete(entry);
  }

  /**
   * Checks `publisher` from now on, following its `lease` events, and `run()` for whether it was
   * started or closed (until the returned function is called).
   */
  addPublisher(publisher: Publisher, run: () => PublisherRun): () => void {
    const leases = new Map<string, boolean>(publisher.options.queues.map((queue) => [queue, false]));
    const onLease = ({ queue, held }: { queue: string; held: boolean }): void => void leases.set(queue, held);
    publisher.on('lease', onLease);
    this.publishers.set(publisher, { leases, run });
    return () => {
      publisher.off('lease', onLease);
      this.publishers.delete(publisher);
    };
  }

  /** The liveness report: always ok (answering at all is the proof). */
  liveness(): HealthReport {
    return { status: 'ok', probe: 'liveness', checks: [] };
  }

  /** The readiness report. Never throws. */
  async readiness(): Promise<HealthReport> {
    const checks: HealthCheck[] = [await this.checkRedis()];
    for (const { bridge, registration } of this.bridges) {
      const { streams, hub } = bridge.stats;
      const ok = hub.subscribed || hub.listeners === 0;
      checks.push({
        name: 'bridge',
        ok,
        id: registration.id,
        subscribed: hub.subscribed,
        streams,
        ...(ok ? {} : { error: 'the live subscription is down: streams get no live events' }),
      });
    }
    for (const { leases, run } of this.publishers.values()) {
      const now = run();
      const queues: Record<string, PublisherQueueState> = {};
      for (const [queue, held] of leases) queues[queue] = now !== 'started' ? 'stopped' : held ? 'reading' : 'standby';
      if (now === 'started') checks.push({ name: 'publisher', ok: true, queues });
      else
        checks.push({
          name: 'publisher',
          ok: false,
          queues,
          error: now === 'new' ? 'the publisher is not started: call publisher.start()' : 'the publisher is closed',
        });
    }
    return { status: checks.every((check) => check.ok) ? 'ok' : 'unavailable', probe: 'readiness', checks };
  }

  private async checkRedis(): Promise<HealthCheck> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.redisTimeoutMs} ms`)), this.redisTimeoutMs);
      });
      await Promise.race([this.ping(), timeout]);
      return { name: 'redis', ok: true, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
    } catch (error) {
      return { name: 'redis', ok: false, error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}
