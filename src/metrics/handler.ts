/**
 * `seenn.metricsHandler()`: the Prometheus text of a registry, as a plain Node `(req, res)` handler
 * (Express, Fastify's `raw`, `http.createServer` alike).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { SeennError } from '../errors.js';
import type { Logger } from '../logger.js';

/** A plain Node request handler. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The Prometheus exposition of `registry`: its text and content type. Throws what collecting throws. */
export async function exposition(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/** The error answered where metrics are off (`metrics: false`). */
export function metricsOffError(): SeennError {
  return new SeennError('NOT_FOUND', 'metrics are off for this Seenn instance (metrics: false)');
}

/**
 * A handler answering `registry`'s metrics (`null`: metrics are off, 404 `NOT_FOUND`); a HEAD gets
 * the headers only. Failures answer the coded JSON envelope and go to `logger`.
 */
export function createMetricsHandler(registry: Registry | null, logger: Logger): NodeHandler {
  return (req, res) => {
    void (async () => {
      if (registry === null) {
        sendError(res, metricsOffError());
        return;
      }
      try {
        const { contentType, body } = await exposition(registry);
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch (error) {
        logger.error({ err: error }, 'metrics: collecting failed');
        sendError(res, new SeennError('INTERNAL_ERROR', 'collecting metrics failed'));
      }
    })();
  };
}

function sendError(res: ServerResponse, error: SeennError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(error.status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(error.toJSON()));
}
