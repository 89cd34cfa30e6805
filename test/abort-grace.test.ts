import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { TelegramCallTimeoutError } from '../src/telegram/live/session-errors.js';
import type { OutlivesRevocationArgs, RevokedCalls } from './fixtures/outlives-revocation.js';
import type { SpinsArgs } from './fixtures/spins.js';
import { fixturePath, runSlow as slow } from './helpers/fixtures.js';
import { accountPicker, nextEvent, recordEvents, startRuntime } from './helpers/runtime.js';
import { settled } from './helpers/settled.js';

/** Resolves with the first message posted on the BroadcastChannel `name`. */
function firstMessage<T>(name: string): Promise<T> {
  const channel = new BroadcastChannel(name);
  return new Promise<T>((resolve) => {
    channel.onmessage = (event) => {
      channel.close();
      resolve((event as MessageEvent).data as T);
    };
  });
}

describe('a task that ignores its abort', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.runtime.abortGraceMs = 200;
    });
  });
  afterAll(() => runtime?.shutdown());

  it('settles its caller after its timeout and the grace, and its account’s next task runs', async () => {
    const account = takeAccount();

    const hung = await settled(runtime.run({ account, task: fixturePath('hangs'), timeoutMs: 100 }));

    expect(hung).toMatchObject({ status: 'rejected', reason: { name: 'AbortError', message: expect.stringMatching(/100 ms timeout.*did not stop within 200 ms of its abort: it was revoked/) } });
    await expect(runtime.run({ account, task: 'noop' })).resolves.toBeNull();
  });

  it('frees its account when its caller aborts it', async () => {
    const account = takeAccount();
    const controller = new AbortController();
    const started = nextEvent(runtime.reporter, 'task:start', (event) => event.account === account);
    const hung = settled(runtime.run({ account, task: fixturePath('hangs'), signal: controller.signal }));
    await started;

    controller.abort();

    expect(await hung).toMatchObject({ status: 'rejected', reason: { name: 'AbortError' } });
    await expect(runtime.run({ account, task: 'noop' })).resolves.toBeNull();
  });

  it('has its cache and Telegram calls refused once it is revoked', async () => {
    const account = takeAccount();
    const report = `revoked-${account}`;
    const calls = firstMessage<RevokedCalls>(report);

    await expect(runtime.run<never, OutlivesRevocationArgs>({ account, task: fixturePath('outlives-revocation'), args: { report }, timeoutMs: 100 })).rejects.toMatchObject({ name: 'AbortError' });

    // The cache call may be refused by either end: by the main thread, which no longer serves the task's binding, or by the worker, told of the revocation.
    const revoked = /^TaskRevokedError: this task was revoked and may no longer act as its account/;
    expect(await calls).toEqual({ cache: expect.stringMatching(/^TaskRevokedError: /), write: expect.stringMatching(revoked), read: expect.stringMatching(revoked) });
  });
});

describe('a CPU-bound task past its timeout', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.runtime.workers = 1;
      config.runtime.abortGraceMs = 200;
    });
  });
  afterAll(() => runtime?.shutdown());

  it.each([
    {
      when: 'from before its abort: its worker is stopped at the end of the grace',
      fixture: 'spins',
      stopped: /kept the worker's event loop busy/,
    },
    {
      when: 'only after it saw its abort: its worker is stopped once a probe goes unanswered',
      fixture: 'spins-after-abort',
      stopped: /revoked, kept the worker's event loop from answering for 200 ms/,
    },
  ])('holding its worker $when; its caller settles, and another account’s task held there runs again on a fresh one', async ({ fixture, stopped }) => {
    const [spinner, bystander] = [takeAccount(), takeAccount()];
    const { threadId: sharedThread } = await slow(runtime, bystander);
    const retries = recordEvents(runtime.reporter, 'task:retry');
    const announce = `${fixture}-${spinner}`;
    const spinning = firstMessage<string>(announce);

    const spun = settled(runtime.run<never, SpinsArgs>({ account: spinner, task: fixturePath(fixture), args: { announce }, timeoutMs: 100 }));
    await spinning;
    const held = settled(slow(runtime, bystander));

    expect(await spun).toMatchObject({ status: 'rejected', reason: { name: 'AbortError', message: expect.stringMatching(/it was revoked/) } });
    const ran = await held;
    expect(ran).toMatchObject({ status: 'fulfilled', value: { threadId: expect.any(Number) } });
    expect((ran as PromiseFulfilledResult<{ threadId: number }>).value.threadId).not.toBe(sharedThread);
    expect(retries).toMatchObject([{ account: bystander, error: { name: 'WorkerCrashedError', message: expect.stringMatching(stopped) } }]);
    await expect(runtime.run({ account: spinner, task: 'noop' })).resolves.toBeNull();
  });
});

describe('a Telegram call in simulated mode', () => {
  let runtime: FleetRuntime;

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.telegram.callTimeoutMs = 1000;
      // 200 s of Telegram time at the default time scale (0.01): two real seconds, twice the call timeout.
      config.telegram.simulated.latencyMs = 200_000;
    });
  });
  afterAll(() => runtime?.shutdown());

  it('fails after telegram.call_timeout when Telegram does not answer', async () => {
    const [account] = runtime.accounts as [string];

    const error = await runtime.run({ account, task: fixturePath('gets-me') }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(TelegramCallTimeoutError);
    expect(error).toMatchObject({ name: 'TelegramCallTimeoutError', message: expect.stringMatching(/did not answer users\.GetUsers within 1 s/) });
  });
});
