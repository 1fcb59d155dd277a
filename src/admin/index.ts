/**
 * The admin route for ops: bull-board and a Seenn JSON view (queues with their publisher's lag, a job
 * beside its BullMQ twin, a user's jobs), behind one auth check, on an Express router.
 */
export { Admin } from './admin.js';
export { createAdminRouter, type AdminRouter, type ExpressAdminOptions } from './express-adapter.js';
export {
  ADMIN_DEFAULTS,
  resolveAdminOptions,
  type AdminAuth,
  type AdminOptions,
  type ResolvedAdminOptions,
} from './options.js';
export { ADMIN_ROUTES, type AdminRoute } from './routes.js';
export type { AdminDeps, AdminHandler, AdminJobReader, BridgesView, JobView, QueuesView } from './handlers.js';
export type { AdminRequest, AdminResponse } from './http.js';
export {
  LAG_COUNT_MAX_ENTRIES,
  readPublisherStatus,
  type PublisherLag,
  type PublisherStatus,
  type QueueStatus,
} from './queue-status.js';
export type { BullJobView } from './bull-job.js';
