import { defineConfig } from 'vitest/config';

// Two suites: `unit` runs in-process beside the code (fast, thousands of cases);
// `e2e` drives real processes (berth server, the AWS CLIs, SDK clients).
// Under CI, each run also writes a JSON report that .ci/run totals into one closing line.
const ciReport = process.env['BERTH_TEST_REPORT'];

export default defineConfig({
  test: {
    ...(ciReport ? { reporters: ['default', 'json'], outputFile: { json: ciReport } } : {}),
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
