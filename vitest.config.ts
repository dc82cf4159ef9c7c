import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two test files at a time even on two cores (vitest's default there is one): most of a test's time is spent
    // waiting for git, filter and server processes, and the suite takes ~250 s instead of ~450 s.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    globalSetup: ['test/global-setup.ts'],
    // Warm filter processes (ops/warm-filter.ts) would outlive the tests' repositories by a second each and hold
    // memory meanwhile: off, except in the tests of them, which switch them on.
    env: { WEFT_WARM_FILTER: '0' },
  },
});
