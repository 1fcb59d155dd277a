/** The route contract (`route-contract.ts`) against the bridge's Express adapter. */
import { routeContract } from './route-contract.js';
import { startBridge } from './helpers.js';

routeContract('bridge (Express adapter)', async () => {
  const bridge = await startBridge();
  const token = await bridge.seenn.tokens.issue({ userId: 'alice', ttlSeconds: 60 });
  const other = await bridge.seenn.tokens.issue({ userId: 'alice', ttlSeconds: 60 });
  return {
    baseUrl: bridge.baseUrl,
    credentials: { Authorization: `Bearer ${token}` },
    // A token with its signature changed.
    wrongCredentials: { Authorization: `Bearer ${other.slice(0, -4)}AAAA` },
    okPath: '/jobs',
    badInputPath: '/jobs?limit=0',
    paramRoute: '/jobs/:param',
    wrongMethod: { method: 'DELETE', path: '/jobs' },
    guardsUnknownPaths: false,
    close: () => bridge.close(),
  };
});
