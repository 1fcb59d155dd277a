/**
 * The route table of the Seenn JSON view. Adapters walk it; paths use `:param` segments and are
 * relative to where the admin route is mounted.
 */
import {
  getJob,
  getMetrics,
  getPage,
  getPageScript,
  getPageStyle,
  listBridges,
  getQueue,
  listQueues,
  listUserJobs,
  type AdminHandler,
} from './handlers.js';
import type { Route } from '../route-table.js';

/** One route of the JSON view. */
export type AdminRoute = Route<AdminHandler>;

/** Every route of the JSON view (bull-board is mounted beside them, under `boardPath`). */
export const ADMIN_ROUTES: readonly AdminRoute[] = Object.freeze([
  { method: 'GET', path: '/', handler: getPage },
  { method: 'GET', path: '/assets/admin.js', handler: getPageScript },
  { method: 'GET', path: '/assets/admin.css', handler: getPageStyle },
  { method: 'GET', path: '/api/queues', handler: listQueues },
  { method: 'GET', path: '/api/queues/:name', handler: getQueue },
  { method: 'GET', path: '/api/jobs/:id', handler: getJob },
  { method: 'GET', path: '/api/users/:userId/jobs', handler: listUserJobs },
  { method: 'GET', path: '/api/bridges', handler: listBridges },
  { method: 'GET', path: '/metrics', handler: getMetrics },
]);
