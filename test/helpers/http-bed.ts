/**
 * What the HTTP test beds share: an Express app listening on a real HTTP server (127.0.0.1, port 0),
 * and closing a bed once, in order — the Seenn, the server and its open connections, the keys under
 * the bed's prefix, the Redis connection.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Redis } from 'ioredis';
import type { Seenn } from '../../src/seenn.js';
import { deletePrefix } from './redis.js';

/** A server listening with an app. */
export interface Listening {
  server: http.Server;
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
}

/** Serves `app` on a free port of 127.0.0.1. */
export async function listen(app: Express): Promise<Listening> {
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, port, origin: `http://127.0.0.1:${port}` };
}

/** A `close()` for a bed: runs once however often it is called, and every call waits for it. */
export function closeOnce(bed: {
  seenn: Seenn;
  server: http.Server;
  redis: Redis;
  prefix: string;
  dropPrefix?: boolean;
}): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      await bed.seenn.close();
      bed.server.closeAllConnections();
      bed.server.close();
      if (bed.dropPrefix !== false) await deletePrefix(bed.redis, bed.prefix);
      await bed.redis.quit();
    })();
    return closing;
  };
}
