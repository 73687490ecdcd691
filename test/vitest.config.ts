import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Kept in test/ so the top level holds only what product.md lists; paths are from the repository root.
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
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
