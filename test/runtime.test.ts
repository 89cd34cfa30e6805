import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RemoteTaskError } from '../src/channel/remote-error.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { FloodCooldownError, QueueFullError } from '../src/task-errors.js';
import type { CacheOpsArgs } from './fixtures/cache-ops.js';
import type { SlowResult } from './fixtures/slow.js';
import type { TelegramErrorArgs } from './fixtures/throws-telegram-error.js';
import { ABORT_REASON_KEY } from './fixtures/waits-for-abort.js';
import { fixturePath, runSlow as slow } from './helpers/fixtures.js';
import { accountPicker, memoryLogger, nextEvent, recordEvents, startRuntime } from './helpers/runtime.js';

const CACHE_OPS = fixturePath('cache-ops');
const SLOW = fixturePath('slow');
const WAITS_FOR_ABORT = fixturePath('waits-for-abort');
const THROWS = fixturePath('throws-telegram-error');

const cacheOps = (runtime: FleetRuntime, account: string, args: CacheOpsArgs, signal?: AbortSignal): Promise<unknown[]> =>
  runtime.run<unknown[], CacheOpsArgs>({ account, task: CACHE_OPS, args, ...(signal && { signal }) });

const floodWait = (seconds: number): TelegramErrorArgs => ({
  name: 'FloodWaitError',
  message: `A wait of ${seconds} seconds is required (caused by contacts.ResolveUsername)`,
  code: 420,
  errorMessage: 'FLOOD_WAIT',
  seconds,
});

describe('a process-scope runtime', () => {
  let runtime: FleetRuntime;
  const memory = memoryLogger('debug');
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startRuntime(
      (config) => {
        config.cache.scope = 'process';
        config.telegram.simulated.accounts = 24;
      },
      { logger: memory.logger },
    );
  });
  afterAll(() => runtime?.shutdown());

  it('lets an account’s second task hit what its first task stored', async () => {
    const account = takeAccount();
    const stats = recordEvents(runtime.reporter, 'cache:stats');
    await cacheOps(runtime, account, { write: { '@alice': { id: 1 }, '@bob': { id: 2 } } });
    const values = await cacheOps(runtime, account, { read: ['@alice', '@bob'] });

    expect(values).toEqual([{ id: 1 }, { id: 2 }]);
    const [first, second] = stats.filter((event) => event.account === account);
    expect(first).toMatchObject({ scope: 'process', warmStart: false, sets: 2, hits: 0, misses: 0 });
    expect(second).toMatchObject({ scope: 'process', warmStart: true, sets: 0, hits: 2, misses: 0, wasInvalidated: false, size: 2 });
    expect(second?.perAccountMaxEntries).toBe(runtime.config.cache.perAccountMaxEntries);
  });

  it('announces the cache scope and warm start in task:start and in the log', async () => {
    const account = takeAccount();
    const starts = recordEvents(runtime.reporter, 'task:start');
    await cacheOps(runtime, account, { write: { '@carol': 3 } });
    await cacheOps(runtime, account, { read: ['@carol'] });

    const mine = starts.filter((event) => event.account === account);
    expect(mine.map(({ cacheScope, warmStart }) => ({ cacheScope, warmStart }))).toEqual([
      { cacheScope: 'process', warmStart: false },
      { cacheScope: 'process', warmStart: true },
    ]);
    const logged = memory.lines.filter((line) => line.account === account).map((line) => [line.taskId, line.msg]);
    expect(logged).toEqual([
      [mine[0]?.taskId, 'Using process cache (warm_start=false)'],
      [mine[1]?.taskId, 'Using process cache (warm_start=true)'],
    ]);
  });

  it('gives a task of account B none of account A’s entries, even for A’s keys', async () => {
    const alice = takeAccount();
    const bob = takeAccount();
    const stats = recordEvents(runtime.reporter, 'cache:stats');
    const keys = ['@shared_channel', 'user:42', 'channel:1001'];
    await cacheOps(runtime, alice, { write: Object.fromEntries(keys.map((key) => [key, `${alice}'s access hash`])) });

    const seenByBob = await cacheOps(runtime, bob, { read: keys });

    expect(seenByBob).toEqual([undefined, undefined, undefined]);
    expect(stats.find((event) => event.account === bob)).toMatchObject({ warmStart: false, hits: 0, misses: 3, size: 0 });
    expect(await cacheOps(runtime, alice, { read: keys })).toEqual(keys.map(() => `${alice}'s access hash`));
  });

  it('shows the next task the writes a task made without awaiting just before it returned', async () => {
    const account = takeAccount();
    const entries = Object.fromEntries(Array.from({ length: 200 }, (_, index) => [`peer:${index}`, { index, hash: new Uint8Array([index % 256]) }]));
    await cacheOps(runtime, account, { write: entries });

    const values = await cacheOps(runtime, account, { read: Object.keys(entries) });

    expect(values).toEqual(Object.values(entries));
  });

  it('runs an account’s tasks on one worker and spreads accounts over both workers', async () => {
    const accounts = [takeAccount(), takeAccount(), takeAccount(), takeAccount()];
    const round = (): Promise<SlowResult[]> => Promise.all(accounts.map((account) => slow(runtime, account)));
    const first = await round();
    const assignments = new Map(runtime.workerAssignments());
    const later = [await round(), await round()];

    for (const results of later) expect(results.map((result) => result.threadId)).toEqual(first.map((result) => result.threadId));
    expect(new Map(runtime.workerAssignments())).toEqual(assignments);
    expect(new Set(first.map((result) => result.threadId)).size).toBe(2);
    expect(new Set(accounts.map((account) => assignments.get(account))).size).toBe(2);
  });

  it('starts an account’s tasks in submission order, one at a time', async () => {
    const account = takeAccount();
    const results = await Promise.all(Array.from({ length: 5 }, () => slow(runtime, account, 15)));

    for (const [index, result] of results.entries()) {
      const previous = results[index - 1];
      if (previous !== undefined) expect(result.startedAt).toBeGreaterThanOrEqual(previous.endedAt);
    }
  });

  it('rejects with the task’s own error name, message and Telegram fields', async () => {
    const account = takeAccount();
    const errors = recordEvents(runtime.reporter, 'task:error');
    const thrown: TelegramErrorArgs = { name: 'RPCError', message: '400: CHANNEL_PRIVATE', code: 400, errorMessage: 'CHANNEL_PRIVATE' };

    const error = await runtime.run({ account, task: THROWS, args: thrown }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(RemoteTaskError);
    expect(error).toMatchObject(thrown);
    expect(errors.find((event) => event.account === account)?.error).toMatchObject(thrown);
    expect(runtime.flood.remaining(account)).toBe(0);
  });

  it('cools an account down after a FLOOD_WAIT while other accounts go on', async () => {
    const flooded = takeAccount();
    const other = takeAccount();
    const cooldowns = recordEvents(runtime.reporter, 'flood:cooldown');
    const starts: { account: string; floodedRemaining: number }[] = [];
    const onStart = ({ account }: { account: string }): void => {
      if (account === flooded || account === other) starts.push({ account, floodedRemaining: runtime.flood.remaining(flooded) });
    };
    runtime.reporter.on('task:start', onStart);

    const failing = runtime.run({ account: flooded, task: THROWS, args: floodWait(5) });
    const held = slow(runtime, flooded);
    const error = await failing.catch((caught: unknown) => caught);

    expect(error).toMatchObject({ name: 'FloodWaitError', code: 420, seconds: 5 });
    expect(runtime.flood.remaining(flooded)).toBeGreaterThan(0);
    expect(cooldowns).toEqual([{ account: flooded, seconds: 5, method: 'FLOOD_WAIT', cooldownMs: 5 * 1000 * 0.01 }]);
    expect(runtime.queuedTasks).toBe(1);
    await slow(runtime, other);
    await held;
    runtime.reporter.off('task:start', onStart);

    expect(starts.map((start) => start.account)).toEqual([flooded, other, flooded]);
    expect(starts[1]?.floodedRemaining).toBeGreaterThan(0);
    expect(starts[2]?.floodedRemaining).toBe(0);
  });

  it('never runs a queued task whose caller aborted it', async () => {
    const account = takeAccount();
    const starts = recordEvents(runtime.reporter, 'task:start');
    const blocker = slow(runtime, account, 100);
    const controller = new AbortController();
    const queued = cacheOps(runtime, account, { write: { ran: true } }, controller.signal);

    controller.abort();

    await expect(queued).rejects.toMatchObject({ name: 'AbortError' });
    await blocker;
    const started = starts.filter((event) => event.account === account).map((event) => event.task);
    expect(started).toEqual([SLOW]);
    expect(await cacheOps(runtime, account, { read: ['ran'] })).toEqual([undefined]);
  });

  it('fires a running task’s signal when its caller aborts', async () => {
    const account = takeAccount();
    const controller = new AbortController();
    const started = nextEvent(runtime.reporter, 'task:start', (event) => event.account === account);
    const running = runtime.run({ account, task: WAITS_FOR_ABORT, signal: controller.signal });
    await started;

    controller.abort();

    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    expect(await cacheOps(runtime, account, { read: [ABORT_REASON_KEY] })).toEqual(['AbortError: the caller aborted the task']);
  });

  it('aborts a task that runs past its timeout', async () => {
    const account = takeAccount();

    const error = await runtime.run({ account, task: WAITS_FOR_ABORT, timeoutMs: 50 }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(RemoteTaskError);
    expect(error).toMatchObject({ name: 'AbortError', message: 'the task ran longer than its 50 ms timeout' });
  });

  it('survives a reporter listener that throws, reporting it as listener:error', async () => {
    const account = takeAccount();
    const listenerErrors = recordEvents(runtime.reporter, 'listener:error');
    const broken = (): void => {
      throw new Error('metrics backend is down');
    };
    runtime.reporter.on('task:end', broken);
    try {
      await expect(slow(runtime, account)).resolves.toMatchObject({ threadId: expect.any(Number) });
    } finally {
      runtime.reporter.off('task:end', broken);
    }
    expect(listenerErrors).toEqual([{ event: 'task:end', error: new Error('metrics backend is down') }]);
  });

  it('rejects a task of an account it does not serve, naming the accounts it does', async () => {
    await expect(runtime.run({ account: '+10000000000', task: 'noop' })).rejects.toThrow(/unknown account \+10000000000: this runtime serves 24 accounts/);
  });
});

describe('a task-scope runtime', () => {
  let runtime: FleetRuntime;
  const memory = memoryLogger('debug');
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startRuntime(
      (config) => {
        config.cache.scope = 'task';
      },
      { logger: memory.logger },
    );
  });
  afterAll(() => runtime?.shutdown());

  it('gives each task a cold cache: the second task misses what the first stored', async () => {
    const account = takeAccount();
    const stats = recordEvents(runtime.reporter, 'cache:stats');
    await cacheOps(runtime, account, { write: { '@alice': 1, '@bob': 2 } });

    const values = await cacheOps(runtime, account, { read: ['@alice', '@bob'] });

    expect(values).toEqual([undefined, undefined]);
    expect(stats.map(({ scope, warmStart, hits, misses, sets }) => ({ scope, warmStart, hits, misses, sets }))).toEqual([
      { scope: 'task', warmStart: false, hits: 0, misses: 0, sets: 2 },
      { scope: 'task', warmStart: false, hits: 0, misses: 2, sets: 0 },
    ]);
    expect(memory.lines.filter((line) => line.account === account).map((line) => line.msg)).toEqual(['Using task cache (warm_start=false)', 'Using task cache (warm_start=false)']);
  });
});

describe('a runtime whose account cooldowns fail queued tasks', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.flood.onCooldown = 'fail';
    });
  });
  afterAll(() => runtime?.shutdown());

  it('fails the cooling account’s queued tasks with FloodCooldownError and runs the others', async () => {
    const flooded = takeAccount();
    const other = takeAccount();
    const failing = runtime.run({ account: flooded, task: THROWS, args: floodWait(60) });
    const queued = [slow(runtime, flooded), slow(runtime, flooded)];

    await expect(failing).rejects.toMatchObject({ code: 420, seconds: 60 });
    for (const task of queued) {
      const error = await task.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(FloodCooldownError);
      expect(error).toMatchObject({ account: flooded, message: expect.stringMatching(/cooling down after a FLOOD_WAIT/) });
    }
    await expect(slow(runtime, flooded)).rejects.toBeInstanceOf(FloodCooldownError);
    await expect(slow(runtime, other)).resolves.toMatchObject({ threadId: expect.any(Number) });
  });
});

describe('a runtime with one task slot', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.runtime.workers = 1;
      config.runtime.tasksPerWorker = 1;
      config.runtime.maxQueue = 6;
    });
  });
  afterAll(() => runtime?.shutdown());

  it('serves waiting accounts round-robin rather than draining one account first', async () => {
    const [blocking, a, b] = [takeAccount(), takeAccount(), takeAccount()];
    const starts = recordEvents(runtime.reporter, 'task:start');
    const tasks = [slow(runtime, blocking, 20), slow(runtime, a), slow(runtime, a), slow(runtime, a), slow(runtime, b), slow(runtime, b), slow(runtime, b)];
    await Promise.all(tasks);

    expect(starts.map((event) => event.account)).toEqual([blocking, a, b, a, b, a, b]);
  });

  it('rejects a task beyond max_queue with QueueFullError and a message naming the limit', async () => {
    const account = takeAccount();
    const accepted = Array.from({ length: 7 }, () => slow(runtime, account, 5));

    const error = await slow(runtime, account).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as Error).message).toBe('the task queue is full (6 queued tasks, runtime.max_queue); retry when tasks have finished');
    await expect(Promise.all(accepted)).resolves.toHaveLength(7);
    await expect(slow(runtime, account)).resolves.toMatchObject({ threadId: expect.any(Number) });
  });
});

describe('shutting down a runtime whose workers hold Telegram connections', () => {
  it('disconnects every worker’s clients before it stops the workers', async () => {
    const runtime = await startRuntime((config) => {
      config.cache.scope = 'process';
    });
    const simulator = runtime.simulator;
    if (simulator === undefined) throw new Error('the test runtime runs on the simulated Telegram');
    const peers = simulator.world.channels.slice(0, 2).map((channel) => `@${channel.baseUsername}`);
    await Promise.all(runtime.accounts.slice(0, 4).map((account) => runtime.run({ account, task: 'channel-digest', args: { peers, posts: 1 } })));
    expect(simulator.openConnections).toBe(4);

    // Stopping a thread would close its connections too, but abruptly: they must be closed before.
    const pool = (runtime as unknown as { pool: { destroy(): Promise<void> } }).pool;
    // The close of a port reaches this thread a moment after the worker closed it; the workers are still alive here.
    let closedByClients = false;
    const destroy = pool.destroy.bind(pool);
    pool.destroy = async () => {
      await vi.waitFor(() => expect(simulator.openConnections).toBe(0), { timeout: 2000 });
      closedByClients = true;
      return destroy();
    };
    await runtime.shutdown();

    expect(closedByClients).toBe(true);
  });
});

describe('a runtime that retries tasks after a FLOOD_WAIT', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);
  const FLOOD_ONCE = fixturePath('flood-once');

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.cache.scope = 'process';
      config.flood.retries = 1;
    });
  });
  afterAll(() => runtime?.shutdown());

  it('runs the task again once the account has cooled down, reporting task:retry rather than task:error', async () => {
    const account = takeAccount();
    const retries = recordEvents(runtime.reporter, 'task:retry');
    const errors = recordEvents(runtime.reporter, 'task:error');
    const cooldowns = recordEvents(runtime.reporter, 'flood:cooldown');

    await expect(runtime.run({ account, task: FLOOD_ONCE })).resolves.toBe('second attempt');

    expect(retries).toMatchObject([{ account, retriesLeft: 0, error: { name: 'FloodWaitError', seconds: 3 } }]);
    expect(errors).toEqual([]);
    expect(cooldowns).toMatchObject([{ account, seconds: 3 }]);
  });

  it('fails the task with the FLOOD_WAIT once its retries are used up', async () => {
    const account = takeAccount();
    await expect(runtime.run({ account, task: THROWS, args: floodWait(2) })).rejects.toMatchObject({ name: 'FloodWaitError', code: 420, seconds: 2 });
  });
});
