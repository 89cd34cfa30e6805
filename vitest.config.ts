import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A process per test file: the tests start their own Piscina threads and child processes, load
    // native modules (better-sqlite3) and watch process-wide events, none of which a shared thread isolates.
    pool: 'forks',
    // Two files at a time on two cores: each starts real worker threads of its own, so more would only queue.
    maxWorkers: 2,
    // Backstops against a hang, not measures of speed: every test waits for states, and on a two-core
    // machine with another CPU-bound process a test of ten seconds idle takes several times as long.
    testTimeout: 60_000,
    hookTimeout: 60_000,
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
