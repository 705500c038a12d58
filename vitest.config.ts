import { defineConfig } from 'vitest/config';

// Two suites: `unit` runs in-process beside the code (fast, thousands of cases);
// `e2e` drives real processes (berth server, the AWS CLIs, SDK clients).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
