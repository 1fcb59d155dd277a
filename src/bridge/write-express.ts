/**
 * The Express side of the write API: mounts {@link WriteApi}'s handlers on the bridge's router, ahead
 * of the end-user read routes (a backend read is answered here; any other request passes on to them).
 */
import type { NextFunction, Request, Response, Router } from 'express';
import type { WriteApi } from './write-api.js';

/** Mounts the write routes (and backend reads) on `router`. Call before the read routes are mounted. */
export function mountWriteApi(router: Router, api: WriteApi<Request>): void {
  const id = (req: Request): string => String(req.params['id']);
  const backendRead =
    (route: (req: Request) => Parameters<WriteApi<Request>['handleBackendRead']>[2]) =>
    async (req: Request, res: Response, next: NextFunction) => {
      if (!(await api.handleBackendRead(req, res, route(req)))) next();
    };
  router.get(
    '/jobs',
    backendRead(() => ({ kind: 'list' })),
  );
  router.get(
    '/jobs/:id/children',
    backendRead((req) => ({ kind: 'children', jobId: id(req) })),
  );
  router.get(
    '/jobs/:id',
    backendRead((req) => ({ kind: 'job', jobId: id(req) })),
  );
  router.post('/jobs', (req, res) => api.handleCreate(req, res));
  router.post('/jobs/:id/progress', (req, res) => api.handleProgress(req, res, id(req)));
  router.post('/jobs/:id/complete', (req, res) => api.handleComplete(req, res, id(req)));
  router.post('/jobs/:id/fail', (req, res) => api.handleFail(req, res, id(req)));
  router.post('/jobs/:id/cancel', (req, res) => api.handleCancel(req, res, id(req)));
  router.get('/eta', (req, res) => api.handleEtaList(req, res));
  router.get('/eta/:key', (req, res) => api.handleEtaGet(req, res, String(req.params['key'])));
  router.delete('/eta/:key', (req, res) => api.handleEtaDelete(req, res, String(req.params['key'])));
}
