/** The route contract (`test/bridge/route-contract.ts`) against the admin route's Express adapter. */
import { routeContract } from '../bridge/route-contract.js';
import { ADMIN_TOKEN, startBed } from './harness.js';

routeContract('admin (Express adapter)', async () => {
  const bed = await startBed();
  bed.mount('/admin', { auth: { token: ADMIN_TOKEN }, queues: ['video'], boardPath: null });
  return {
    baseUrl: `${bed.origin}/admin`,
    credentials: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    wrongCredentials: { Authorization: `Bearer ${ADMIN_TOKEN.slice(0, -4)}AAAA` },
    okPath: '/api/queues',
    badInputPath: '/api/users/alice/jobs?limit=0',
    paramRoute: '/api/jobs/:param',
    wrongMethod: { method: 'POST', path: '/api/queues' },
    guardsUnknownPaths: true,
    close: () => bed.close(),
  };
});
