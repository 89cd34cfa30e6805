import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { loadConfig, type FleetConfig } from '../src/config/config.js';
import { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { runWorkload, type JobResult } from '../src/workload/fleet-job.js';
import { simulatedUniverse } from '../src/workload/universe.js';
import { generateWorkload } from '../src/workload/workload.js';

const SHIPPED_CONFIG = fileURLToPath(new URL('../config.yaml', import.meta.url));

interface ModeRun {
  result: JobResult;
  dc: { connections: number; rpcCalls: number; duplicateAuthKeys: number; drops: number } | undefined;
}

/** The shipped workload, as `npm start` runs it, in one Telegram mode. */
async function runShipped(mode: FleetConfig['telegram']['mode']): Promise<ModeRun> {
  const { config } = loadConfig(SHIPPED_CONFIG, {});
  config.logging.level = 'silent';
  config.telegram.mode = mode;
  // At the shipped time scale an unoccupied username's 300 s are 3 real seconds, shorter than the run:
  // how many such entries expire would depend on how busy the machine is, not on the mode.
  config.cache.negativeTtlMs = config.cache.entityTtlMs;
  // Both modes start cold: the shipped store would hand the first run's entries to the second.
  config.cache.store.driver = 'none';
  const runtime = await FleetRuntime.start({ config });
  try {
    const universe = simulatedUniverse(runtime.world!, config.workload, runtime.accounts);
    const workload = generateWorkload(config.workload, runtime.accounts, universe);
    const result = await runWorkload(runtime, workload, { task: config.workload.task });
    const counters = runtime.dataCentre?.counters;
    return { result, dc: counters && { ...counters } };
  } finally {
    await runtime.shutdown();
  }
}

test('the shipped workload over the loopback data centre gets the hit rate and calls per task it gets from the simulator', async () => {
  const simulated = await runShipped('simulated');
  const loopback = await runShipped('loopback');

  expect(simulated.result.failed).toBe(0);
  expect(loopback.result.failed).toBe(0);
  expect(loopback.result.tasks).toBe(simulated.result.tasks);
  expect(loopback.result.lookups).toBe(simulated.result.lookups);
  expect(loopback.result.hits).toBe(simulated.result.hits);
  expect(loopback.result.hitRate).toBe(simulated.result.hitRate);
  expect(loopback.result.calls).toEqual(simulated.result.calls);
  expect(loopback.result.callsPerTask).toBe(simulated.result.callsPerTask);
  // It went over TCP: every account connected, and every call the world answered came in as an MTProto RPC.
  expect(simulated.dc).toBeUndefined();
  const accounts = new Set(loopback.result.records.map((record) => record.account)).size;
  expect(loopback.dc!.connections).toBeGreaterThanOrEqual(accounts);
  expect(loopback.dc!.rpcCalls).toBeGreaterThanOrEqual(loopback.result.totalCalls!);
  expect(loopback.dc!.drops).toBe(0);
  expect(loopback.dc!.duplicateAuthKeys).toBe(0);
}, 120_000);
