import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerCrashedError } from '../src/task-errors.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import type { WaitsForGoArgs } from './fixtures/waits-for-go.js';
import { fixturePath } from './helpers/fixtures.js';
import { accountPicker, recordEvents, startRuntime } from './helpers/runtime.js';
import { settled } from './helpers/settled.js';

/** The messages of a BroadcastChannel as they come, and a way to wait for the n-th. */
function listen(name: string): { nth(count: number): Promise<void>; post(message: string): void; close(): void } {
  const channel = new BroadcastChannel(name);
  let seen = 0;
  const waiters: { count: number; wake: () => void }[] = [];
  channel.onmessage = (event) => {
    if ((event as MessageEvent).data !== 'waiting') return;
    seen++;
    for (const waiter of waiters.filter((candidate) => candidate.count <= seen)) waiter.wake();
  };
  return {
    nth: (count) => (seen >= count ? Promise.resolve() : new Promise((wake) => waiters.push({ count, wake }))),
    post: (message) => channel.postMessage(message),
    close: () => channel.close(),
  };
}

describe.each([
  { fault: 'calls process.exit', fixture: 'exits-process', cause: /a task called process\.exit\(1\)/ },
  { fault: 'leaves a rejection unhandled', fixture: 'rejects-unhandled', cause: /an unhandled rejection: Error: nobody handles this rejection/ },
  { fault: 'throws where nobody catches', fixture: 'throws-uncaught', cause: /an uncaught exception: Error: nobody catches this exception/ },
  { fault: 'runs out of memory', fixture: 'allocates-until-oom', cause: /memory limit/ },
])('a task that $fault on a worker it shares', ({ fixture, cause }) => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.runtime.workers = 1;
      config.runtime.maxWorkerMemoryMb = 32;
    });
  });
  afterAll(() => runtime?.shutdown());

  it('fails alone: another account’s task that changed nothing runs again, one that wrote fails saying it was collateral', async () => {
    const [culprit, reader, writer] = [takeAccount(), takeAccount(), takeAccount()];
    const readerChannel = listen(`go-${reader}-${fixture}`);
    const writerChannel = listen(`go-${writer}-${fixture}`);
    const retries = recordEvents(runtime.reporter, 'task:retry');
    try {
      const read = settled(runtime.run<{ threadId: number }, WaitsForGoArgs>({ account: reader, task: fixturePath('waits-for-go'), args: { channel: `go-${reader}-${fixture}` } }));
      const wrote = settled(runtime.run<{ threadId: number }, WaitsForGoArgs>({ account: writer, task: fixturePath('waits-for-go'), args: { channel: `go-${writer}-${fixture}`, write: true } }));
      await Promise.all([readerChannel.nth(1), writerChannel.nth(1)]);

      const crash = await settled(runtime.run({ account: culprit, task: fixturePath(fixture) }));

      expect(crash).toMatchObject({ status: 'rejected', reason: expect.any(WorkerCrashedError) });
      expect((crash as PromiseRejectedResult).reason).toMatchObject({ collateral: false, message: expect.stringMatching(new RegExp(`of account \\${culprit} died: .*`)) });
      expect(((crash as PromiseRejectedResult).reason as Error).message).toMatch(cause);
      expect(await wrote).toMatchObject({
        status: 'rejected',
        reason: { name: 'WorkerCrashedError', collateral: true, message: expect.stringMatching(/lost its worker to another task.*already called account\.UpdateStatus/) },
      });
      await readerChannel.nth(2);
      readerChannel.post('go');
      expect(await read).toMatchObject({ status: 'fulfilled', value: { threadId: expect.any(Number) } });
      expect(retries).toMatchObject([{ account: reader, error: { name: 'WorkerCrashedError' } }]);
    } finally {
      readerChannel.close();
      writerChannel.close();
    }
  });
});
