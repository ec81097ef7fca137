import { defineConfig } from 'vitest/config';

// End-to-end: one real box (API host + emulator, on the test Azurite) for the whole run, one browser, tests in order.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    globalSetup: ['e2e/box.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 240_000,
    sequence: { concurrent: false },
  },
});
