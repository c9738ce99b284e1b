import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real servers on port 0; forks isolate their file descriptors.
    pool: 'forks',
    maxWorkers: 2,
  },
});
