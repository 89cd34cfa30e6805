import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import type { CacheOpsArgs } from './fixtures/cache-ops.js';
import type { WaitsForGoArgs } from './fixtures/waits-for-go.js';
import { fixturePath } from './helpers/fixtures.js';
import { recordEvents, startRuntime } from './helpers/runtime.js';

const CAP = 5;
const WRITES = 12;

/**
 * In process scope, tasks of one account that overlap read the same account counters: each
 * eviction must be reported by one of them, not by every task that was running when it happened.
 */
describe('evictions of one account whose tasks run at the same time', () => {
  let runtime: FleetRuntime;

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.cache.scope = 'process';
      config.cache.store.driver = 'none';
      config.cache.perAccountMaxEntries = CAP;
      config.runtime.perAccountConcurrency = 2;
    });
  });
  afterAll(() => runtime?.shutdown());

  it('are reported once in all, though both tasks saw them happen', async () => {
    const [account] = runtime.accounts as [string];
    const stats = recordEvents(runtime.reporter, 'cache:stats');
    const channelName = `overlapping-evictions-${process.pid}`;
    const channel = new BroadcastChannel(channelName);
    const waiting = new Promise<void>((resolve) => {
      channel.onmessage = (event) => {
        if ((event as MessageEvent).data === 'waiting') resolve();
      };
    });
    const holder = runtime.run<unknown, WaitsForGoArgs>({ account, task: fixturePath('waits-for-go'), args: { channel: channelName } });
    await waiting;

    const write = Object.fromEntries(Array.from({ length: WRITES }, (_, index) => [`user:${index}`, `value ${index}`]));
    await runtime.run<unknown[], CacheOpsArgs>({ account, task: fixturePath('cache-ops'), args: { write } });
    channel.postMessage('go');
    await holder;
    channel.close();

    const reported = stats.filter((event) => event.account === account).map((event) => event.evictions.accountCap);
    expect(reported).toHaveLength(2);
    expect(reported.reduce((sum, count) => sum + count, 0)).toBe(WRITES - CAP);
  });
});
