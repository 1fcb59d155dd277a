/**
 * Two bridge processes over one prefix behind a stand-in load balancer, for failover tests: every
 * (re)connection goes to the bridge that is up — the first, until {@link BridgePair.failOver} kills
 * it with SIGKILL, then the second.
 */
import { spawnBridge, type BridgeProcess } from '../bridge/process.js';

/** Two bridge processes and the balancer in front of them. */
export interface BridgePair {
  /** The bridge up at first (the balancer's target until {@link failOver}). */
  first: BridgeProcess;
  /** `url` (any `http://host:port/…`) sent to the bridge that is up now. */
  route(url: string): string;
  /** `fetch` through the balancer. */
  fetch: typeof fetch;
  /** Kills the first bridge with SIGKILL; from then on the balancer sends to the second. */
  failOver(): Promise<void>;
  /** Stops both (the first with SIGKILL, the second with SIGTERM); idempotent. */
  close(): Promise<void>;
}

/** Spawns two bridge processes (`options` go to both, see `test/bridge/fixtures/bridge-process.ts`) and waits for their ports. */
export async function spawnBridgePair(
  redisUrl: string,
  prefix: string,
  secret: string,
  options: Record<string, unknown> = {},
): Promise<BridgePair> {
  const started = await Promise.allSettled([
    spawnBridge(redisUrl, prefix, secret, options),
    spawnBridge(redisUrl, prefix, secret, options),
  ]);
  const [first, second] = started.map((result) => (result.status === 'fulfilled' ? result.value : null));
  if (first === null || second === null || first === undefined || second === undefined) {
    await Promise.all([first?.kill('SIGKILL'), second?.kill('SIGKILL')]);
    throw started.find((result) => result.status === 'rejected')?.reason;
  }
  let target = first.port;
  const route = (url: string): string => url.replace(/:\d+\//, `:${target}/`);
  return {
    first,
    route,
    fetch: (input, init) => fetch(route(String(input instanceof Request ? input.url : input)), init),
    async failOver() {
      target = second.port;
      await first.kill('SIGKILL');
    },
    async close() {
      await Promise.all([first.kill('SIGKILL'), second.kill('SIGTERM')]);
    },
  };
}
