/**
 * `seenn.healthHandler()`: a plain Node `(req, res)` handler answering a {@link HealthReport} as JSON,
 * 200 when ok and 503 when not ready.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Health, HealthProbe } from './health.js';

/** Options of `seenn.healthHandler()`. */
export interface HealthHandlerOptions {
  /** `readiness` (Redis, bridges, publishers) or `liveness` (the process answers). @defaultValue 'readiness' */
  probe?: HealthProbe;
}

/** A handler answering `health`'s `probe` report. */
export function createHealthHandler(
  health: Health,
  probe: HealthProbe,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      const report = probe === 'liveness' ? health.liveness() : await health.readiness();
      if (res.headersSent || res.destroyed) return;
      res.writeHead(report.status === 'ok' ? 200 : 503, {
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(report));
    })();
  };
}
