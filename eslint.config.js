// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layering of DESIGN.md's module map as import rules (docs/architecture.md has the table and why).
 * For each folder of src/: the other folders and the top-level modules it may import, and the packages
 * it may not. What DESIGN.md asks and the code does today is enforced; where today's code goes beyond
 * DESIGN.md's "may use" column, the rule encodes today (listed as `beyondDesign`) so it cannot grow.
 */
const FOLDERS = [
  'admin',
  'auth',
  'bridge',
  'client',
  'handles',
  'health',
  'metrics',
  'model',
  'position',
  'producer',
  'publisher',
  'store',
  'worker',
];
/** Top-level modules that every server folder may import (the composition root `seenn.ts` and `index.ts` never). */
const SHARED = ['errors', 'logger', 'options', 'context', 'jobs-api', 'route-table'];
/** Packages nothing outside the named places may import. */
const SERVER_PACKAGES = [
  'ioredis',
  'bullmq',
  'express',
  '@bull-board/*',
  'prom-client',
  'jose',
  'better-sse',
  'pino',
  'zod',
  'ulid',
];
const LAYERS = {
  // Pure: the job object, the reducer, parent and ETA maths. No I/O package, no other folder.
  model: {
    folders: [],
    shared: ['errors'],
    packages: [
      'ioredis',
      'bullmq',
      'express',
      '@bull-board/*',
      'prom-client',
      'jose',
      'better-sse',
      'react',
      'node:http',
      'node:net',
      'node:fs',
      'node:events',
    ],
  },
  // Every Redis key and script. beyondDesign: metrics (the recorder it reports store latency to).
  store: {
    folders: ['model', 'metrics'],
    shared: ['errors', 'logger'],
    packages: ['bullmq', 'express', '@bull-board/*', 'react'],
  },
  producer: { folders: ['model', 'store'], packages: ['ioredis', 'express', '@bull-board/*', 'react'] }, // beyondDesign: store (first snapshots)
  worker: { folders: ['model', 'store'], packages: ['ioredis', 'express', '@bull-board/*', 'react'] }, // beyondDesign: store (output)
  publisher: { folders: ['model', 'store', 'position'], packages: ['ioredis', 'express', '@bull-board/*', 'react'] }, // beyondDesign: position (completion history)
  position: {
    folders: ['model', 'store', 'metrics'],
    packages: ['ioredis', 'bullmq', 'express', '@bull-board/*', 'react'],
  },
  // beyondDesign: auth, handles, position, metrics.
  bridge: {
    folders: ['model', 'store', 'auth', 'handles', 'metrics', 'position'],
    packages: ['ioredis', 'bullmq', '@bull-board/*', 'react', 'express'],
  },
  admin: {
    folders: ['model', 'store', 'health', 'metrics', 'publisher'],
    packages: ['ioredis', '@bull-board/*', 'react', 'express'],
  },
  handles: {
    folders: ['model', 'store', 'worker'],
    packages: ['ioredis', 'express', '@bull-board/*', 'react'],
  },
  auth: {
    folders: ['model'],
    shared: ['errors', 'options'],
    packages: ['ioredis', 'bullmq', 'express', '@bull-board/*', 'react'],
  },
  health: { folders: ['store', 'publisher'], packages: ['ioredis', 'bullmq', 'express', '@bull-board/*', 'react'] },
  metrics: { folders: ['publisher'], packages: ['ioredis', 'bullmq', 'express', '@bull-board/*', 'react'] },
  // Browser and React: fetch only. The one server-side file it shares is the zod-free model/wire.ts.
  client: { folders: [], shared: [], only: ['model/wire'], packages: [...SERVER_PACKAGES, 'node:*'] },
};
/** Files allowed a package their folder may not import: Express and bull-board in the adapters, React in react.tsx. */
const EXCEPTIONS = [
  { files: ['src/bridge/express-adapter.ts'], allow: ['express'] },
  { files: ['src/admin/express-adapter.ts'], allow: ['express', '@bull-board/*'] },
  { files: ['src/admin/board.ts'], allow: ['@bull-board/*'] },
  { files: ['src/client/react.tsx'], allow: ['react'] },
];

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `no-restricted-imports` options for one folder, less the packages in `allow`; `up` is `../` for its files, `../../` for those of a subfolder. */
function layerRule(folder, allow = [], up = '../') {
  const parent = escape(up);
  const layer = LAYERS[folder];
  const patterns = [];
  for (const other of FOLDERS) {
    if (other === folder || layer.folders.includes(other)) continue;
    const only = (layer.only ?? [])
      .filter((path) => path.startsWith(`${other}/`))
      .map((path) => escape(path.slice(other.length + 1)));
    const except = only.length > 0 ? `(?!(${only.join('|')})\\.js$)` : '';
    patterns.push({
      regex: `^${parent}${other}/${except}`,
      message: `src/${folder}/ may not import src/${other}/ (DESIGN.md module map; docs/architecture.md)`,
    });
  }
  const shared = layer.shared ?? SHARED;
  patterns.push({
    regex: `^${parent}(?!(${shared.map(escape).join('|') || '$^'})\\.js$)[^/]+$`,
    message: `src/${folder}/ may import only these top-level modules: ${shared.join(', ') || 'none'} (never seenn.ts or index.ts)`,
  });
  const packages = layer.packages.filter((name) => !allow.includes(name));
  if (packages.length > 0)
    patterns.push({
      group: packages,
      message: `src/${folder}/ may not import this package (DESIGN.md module map; docs/architecture.md)`,
    });
  return ['error', { patterns }];
}

const layering = [
  ...Object.keys(LAYERS).map((folder) => ({
    files: [`src/${folder}/**`],
    rules: { 'no-restricted-imports': layerRule(folder) },
  })),
  // A subfolder (`store/lua/`): the same rule one level up.
  ...Object.keys(LAYERS).map((folder) => ({
    files: [`src/${folder}/*/**`],
    rules: { 'no-restricted-imports': layerRule(folder, [], '../../') },
  })),
  ...EXCEPTIONS.flatMap(({ files, allow }) =>
    files.map((file) => ({ files: [file], rules: { 'no-restricted-imports': layerRule(file.split('/')[1], allow) } })),
  ),
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test-output/', 'bench/results/', 'examples/public/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    // Examples, benchmarks, tests and scripts are programs: they may print.
    files: ['examples/**', 'bench/**', 'test/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  ...layering,
);
