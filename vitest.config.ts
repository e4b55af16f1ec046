import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'plugins/**/*.test.ts'],
    // Real ffmpeg/RTMP/Redis/Chromium in tests: generous per-test limits, files in separate processes.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The machine has 2 cores; more parallel files only make the real-time media tests flaky.
    maxWorkers: 2,
  },
});
