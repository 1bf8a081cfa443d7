import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration suites start real processes and servers; on two cores, a few files at a time.
    maxWorkers: 2,
    globalSetup: ["tests/global-setup.ts"],
  },
});
