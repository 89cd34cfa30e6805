import { afterEach, describe, expect, it } from 'vitest';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { fixturePath } from './helpers/fixtures.js';
import { startRuntime } from './helpers/runtime.js';
import { until } from './helpers/until.js';

/*
 * A worker keeps an account's client between its tasks, but not forever and not for every account
 * of a large fleet: runtime.client_idle_timeout and runtime.max_clients_per_worker. One worker, so
 * every account's client lives where the probe task can see it.
 */
describe('the Telegram clients a worker holds', () => {
  let runtime: FleetRuntime | undefined;
  afterEach(() => runtime?.shutdown());

  const held = (account: string): Promise<string[]> => (runtime as FleetRuntime).run<string[]>({ account, task: fixturePath('held-clients') });
  const noop = (account: string): Promise<unknown> => (runtime as FleetRuntime).run({ account, task: 'noop' });

  it('disconnects a client that sat idle for runtime.client_idle_timeout, and connects it again for the next task', async () => {
    runtime = await startRuntime((config) => {
      config.runtime.workers = 1;
      config.runtime.clientIdleTimeoutMs = 50;
    });
    const [a] = runtime.accounts as [string];
    await noop(a);

    // Without the idle timeout the client would stay connected until shutdown.
    await until(() => runtime?.simulator?.openConnections === 0);

    expect(await held(a)).toEqual([a]);
    expect(runtime.simulator?.openConnections).toBe(1);
  });

  it('holds at most runtime.max_clients_per_worker, letting the least recently used idle one go', async () => {
    runtime = await startRuntime((config) => {
      config.runtime.workers = 1;
      config.runtime.tasksPerWorker = 2;
      config.runtime.maxClientsPerWorker = 2;
    });
    const [a, b, c] = runtime.accounts as [string, string, string];
    await noop(a);
    await noop(b);

    expect(await held(c)).toEqual([b, c]);
    expect(await held(a)).toEqual([c, a]);
  });
});
