import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import type { SpinsArgs } from './fixtures/spins.js';
import { fixturePath, runSlow as slow } from './helpers/fixtures.js';
import { recordEvents, startRuntime } from './helpers/runtime.js';
import { settled } from './helpers/settled.js';

function announced(name: string): Promise<void> {
  const channel = new BroadcastChannel(name);
  return new Promise((resolve) => {
    channel.onmessage = () => {
      channel.close();
      resolve();
    };
  });
}

describe('the other accounts of a worker a CPU-bound task holds', () => {
  let runtime: FleetRuntime;

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.runtime.abortGraceMs = 200;
    });
  });
  afterAll(() => runtime?.shutdown());

  it('run on the live worker at once, not on the replacement still loading', async () => {
    // Three accounts over two workers: two of them share one.
    const accounts = runtime.accounts.slice(0, 3);
    const threads = await Promise.all(accounts.map(async (account) => (await slow(runtime, account)).threadId));
    const shared = threads.find((thread, index) => threads.indexOf(thread) !== index) as number;
    const [spinner, bystander] = accounts.filter((_, index) => threads[index] === shared) as [string, string];
    const survivor = threads.find((thread) => thread !== shared) as number;
    const retries = recordEvents(runtime.reporter, 'task:retry');
    const announce = `spins-${spinner}`;
    const spinning = announced(announce);

    const spun = settled(runtime.run<never, SpinsArgs>({ account: spinner, task: fixturePath('spins'), args: { announce }, timeoutMs: 100 }));
    await spinning;
    // Sent to the held worker, where it waits until that worker is stopped.
    const held = settled(slow(runtime, bystander));

    expect(await spun).toMatchObject({ status: 'rejected', reason: { name: 'AbortError' } });
    expect(await held).toMatchObject({ status: 'fulfilled', value: { threadId: survivor } });
    expect(retries).toMatchObject([{ account: bystander, error: { name: 'WorkerCrashedError', message: expect.stringMatching(/lost its worker to another task/), fields: { collateral: true } } }]);
    // A task of the bystander queued after the held worker was stopped goes to the survivor too.
    expect(await slow(runtime, bystander)).toMatchObject({ threadId: survivor });
    expect(runtime.workerAssignments().get(bystander)).toBe(survivor);
  });
});
