import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Worker-thread tests start real Piscina pools; two cores cannot run many of them at once.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // `npm run coverage`: what the suite runs of src/ in its own threads. Code a Piscina worker runs
    // (src/worker, workers/) executes from dist/ in threads V8 reports apart, so it shows as unrun here.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'json-summary', 'html'],
      reportsDirectory: 'coverage',
    },
  },
});
