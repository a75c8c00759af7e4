import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // two cores: openocd end-to-end suites are CPU-bound on the simulated JTAG target
    maxWorkers: 2,
  },
});
