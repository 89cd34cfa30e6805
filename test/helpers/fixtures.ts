import { fileURLToPath } from 'node:url';
import type { FleetRuntime } from '../../src/runtime/fleet-runtime.js';
import type { SlowArgs, SlowResult } from '../fixtures/slow.js';

/**
 * Worker threads import compiled JavaScript only, so a test names a fixture by its build output
 * in dist/test/fixtures (`npm run build` writes it; `npm test` builds first).
 */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../dist/test/fixtures/${name}.js`, import.meta.url));
}

/** Runs the `slow` fixture: which thread ran the task, and when it started and ended. */
export function runSlow(runtime: FleetRuntime, account: string, ms = 0): Promise<SlowResult> {
  return runtime.run<SlowResult, SlowArgs>({ account, task: fixturePath('slow'), args: { ms } });
}
