import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration files start workers, publishers and servers: two cores cannot run many at once.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
