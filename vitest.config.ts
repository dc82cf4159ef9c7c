import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    // Warm filter processes (ops/warm-filter.ts) would outlive the tests' repositories by a second each and hold
    // memory meanwhile: off, except in the tests of them, which switch them on.
    env: { WEFT_WARM_FILTER: '0' },
  },
});
