import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most tests wait on subprocesses and the sandbox's clock, not the CPU: run files side by side.
    maxWorkers: 3,
    reporters: ['default'],
  },
});
