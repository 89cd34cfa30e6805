import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { loadConfig, type FleetConfig } from '../src/config/config.js';
import { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { runWorkload, type JobResult } from '../src/workload/fleet-job.js';
import { simulatedUniverse } from '../src/workload/universe.js';
import { generateWorkload } from '../src/workload/workload.js';

const SHIPPED_CONFIG = fileURLToPath(new URL('../config.yaml', import.meta.url));
const folder = mkdtempSync(join(tmpdir(), 'tgfleet-restart-'));

afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** The first round of the shipped workload (each account's first task), on a runtime started afresh. */
async function firstRound(config: FleetConfig): Promise<{ result: JobResult; resolves: number }> {
  const runtime = await FleetRuntime.start({ config });
  try {
    const universe = simulatedUniverse(runtime.world!, config.workload, runtime.accounts);
    const workload = generateWorkload(config.workload, runtime.accounts, universe);
    const result = await runWorkload(runtime, workload, { task: config.workload.task });
    return { result, resolves: runtime.simulator!.totalCalls('contacts.ResolveUsername') };
  } finally {
    await runtime.shutdown();
  }
}

test('a restart with the shipped SQLite store makes at least 80% fewer ResolveUsername calls in its first round', async () => {
  const { config } = loadConfig(SHIPPED_CONFIG, {});
  expect(config.cache.store.driver).toBe('sqlite');
  config.logging.level = 'silent';
  config.cache.store.sqlitePath = join(folder, 'tgfleet-cache.sqlite');
  config.workload.tasksPerAccount = 1;

  const cold = await firstRound(config);
  const warm = await firstRound(config);

  expect(cold.result.failed).toBe(0);
  expect(warm.result.failed).toBe(0);
  expect(cold.resolves).toBeGreaterThan(0);
  expect(warm.resolves).toBeLessThanOrEqual(cold.resolves * 0.2);
  expect(warm.result.hitRate).toBeGreaterThan(cold.result.hitRate);
}, 120_000);
