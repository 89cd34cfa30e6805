import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { runWorkload } from '../src/workload/fleet-job.js';
import { simulatedUniverse } from '../src/workload/universe.js';
import { generateWorkload } from '../src/workload/workload.js';

const SHIPPED_CONFIG = fileURLToPath(new URL('../config.yaml', import.meta.url));

test('a workload of more tasks than the scheduler queues runs every one of them, none rejected', async () => {
  const { config } = loadConfig(SHIPPED_CONFIG, {});
  config.logging.level = 'silent';
  config.cache.store.driver = 'none';
  config.runtime.maxQueue = 3;
  config.workload.tasksPerAccount = 4;
  const runtime = await FleetRuntime.start({ config });
  try {
    const workload = generateWorkload(config.workload, runtime.accounts, simulatedUniverse(runtime.world!, config.workload, runtime.accounts));
    expect(workload.length).toBeGreaterThan(config.runtime.maxQueue);
    const result = await runWorkload(runtime, workload, { task: config.workload.task });
    expect(result.errors).toEqual({});
    expect([result.done, result.failed, result.notRun]).toEqual([workload.length, 0, 0]);
  } finally {
    await runtime.shutdown();
  }
}, 120_000);
