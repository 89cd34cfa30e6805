import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerCrashedError } from '../src/task-errors.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { FleetMetrics } from '../src/telemetry/prometheus.js';
import type { WaitsForGoArgs } from './fixtures/waits-for-go.js';
import { fixturePath, runSlow as slow } from './helpers/fixtures.js';
import { accountPicker, memoryLogger, recordEvents, startRuntime } from './helpers/runtime.js';

describe('an account whose tasks crash workers again and again', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);
  const { logger, lines } = memoryLogger();

  beforeAll(async () => {
    runtime = await startRuntime(
      (config) => {
        config.runtime.workers = 1;
        config.runtime.quarantineCrashes = 2;
      },
      { logger },
    );
  });
  afterAll(() => runtime?.shutdown());

  it('is moved to a worker of its own, where its next crash reaches no other account’s task', async () => {
    const [culprit, neighbour] = [takeAccount(), takeAccount()];
    const quarantined = recordEvents(runtime.reporter, 'account:quarantined');
    const crash = (): Promise<unknown> => runtime.run({ account: culprit, task: fixturePath('exits-process') }).catch((caught: unknown) => caught);

    expect(await crash()).toBeInstanceOf(WorkerCrashedError);
    expect(runtime.quarantinedAccounts).toEqual([]);
    expect(await crash()).toBeInstanceOf(WorkerCrashedError);

    expect(runtime.quarantinedAccounts).toEqual([culprit]);
    expect(quarantined).toMatchObject([{ account: culprit, crashes: 2, reason: expect.stringMatching(/process\.exit\(1\)/) }]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, account: culprit, msg: expect.stringMatching(/runs on a worker of its own/) }));
    const metrics = new FleetMetrics(runtime);
    expect(await metrics.metrics()).toMatch(/^tgfleet_quarantined_accounts 1$/m);
    metrics.close();

    const { threadId: shared } = await slow(runtime, neighbour);
    const { threadId: own } = await slow(runtime, culprit);
    expect(own).not.toBe(shared);

    // The neighbour's task is running on the shared worker when the culprit crashes its own again.
    const retries = recordEvents(runtime.reporter, 'task:retry');
    const name = `go-${neighbour}`;
    const channel = new BroadcastChannel(name);
    const waiting = new Promise<void>((resolve) => {
      channel.onmessage = (event) => (event as MessageEvent).data === 'waiting' && resolve();
    });
    const held = runtime.run<{ threadId: number }, WaitsForGoArgs>({ account: neighbour, task: fixturePath('waits-for-go'), args: { channel: name } });
    await waiting;
    expect(await crash()).toBeInstanceOf(WorkerCrashedError);
    channel.postMessage('go');
    expect(await held).toEqual({ threadId: shared });
    channel.close();
    expect(retries).toEqual([]);
  });
});
