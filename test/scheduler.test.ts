import { afterEach, describe, expect, it, vi } from 'vitest';
import { TelegramCache } from '../src/cache/telegram-cache.js';
import { AccountEndpoint } from '../src/runtime/account-endpoint.js';
import { FloodControl } from '../src/runtime/flood-control.js';
import { Reporter } from '../src/telemetry/reporter.js';
import { RequeueTask, Scheduler, type SchedulerOptions } from '../src/runtime/scheduler.js';
import { FloodCooldownError, QueueFullError, RuntimeClosedError } from '../src/task-errors.js';
import { SingleFlight } from '../src/runtime/single-flight.js';
import { memoryLogger, recordEvents } from './helpers/runtime.js';
import { settled } from './helpers/settled.js';

/**
 * A scheduler whose tasks are promises the test settles by hand, so every ordering question is
 * answered by the order of `started` and never by timing.
 */
function harness(options: Partial<SchedulerOptions> = {}) {
  const cooldowns = new Map<string, number>();
  const scheduler = new Scheduler({
    globalConcurrency: 4,
    perAccountConcurrency: 1,
    maxQueue: 100,
    cooldownRemaining: (account) => cooldowns.get(account) ?? 0,
    onCooldown: 'wait',
    ...options,
  });
  const started: string[] = [];
  const finishers = new Map<string, (value: string) => void>();

  /** Queues a task named `name` of `account`; it runs until `finish(name)`. */
  function submit(account: string, name: string, signal?: AbortSignal): Promise<string> {
    return scheduler.submit(
      account,
      () =>
        new Promise<string>((resolve) => {
          started.push(name);
          finishers.set(name, resolve);
        }),
      signal,
    );
  }

  /** Lets a running task end and the scheduler react (it starts the next tasks in a promise callback). */
  async function finish(name: string): Promise<void> {
    const resolve = finishers.get(name);
    if (resolve === undefined) throw new Error(`task ${name} is not running`);
    resolve(name);
    await new Promise((done) => setImmediate(done));
  }

  return { scheduler, cooldowns, started, submit, finish };
}

describe('Scheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts an account’s tasks in submission order, one at a time under a limit of 1', async () => {
    const { started, submit, finish } = harness();
    const results = [submit('a', 'a1'), submit('a', 'a2'), submit('a', 'a3')];

    expect(started).toEqual(['a1']);
    await finish('a1');
    expect(started).toEqual(['a1', 'a2']);
    await finish('a2');
    await finish('a3');
    await expect(Promise.all(results)).resolves.toEqual(['a1', 'a2', 'a3']);
  });

  it('runs up to the per-account limit of one account at once', async () => {
    const { scheduler, started, submit, finish } = harness({ perAccountConcurrency: 2 });
    void submit('a', 'a1');
    void submit('a', 'a2');
    void submit('a', 'a3');

    expect(started).toEqual(['a1', 'a2']);
    expect(scheduler.runningCount).toBe(2);
    expect(scheduler.queuedCount).toBe(1);
    await finish('a2');
    expect(started).toEqual(['a1', 'a2', 'a3']);
  });

  it('never runs more tasks than the global limit, whatever the accounts', async () => {
    const { scheduler, started, submit, finish } = harness({ globalConcurrency: 2 });
    for (const account of ['a', 'b', 'c', 'd']) void submit(account, account);

    expect(started).toEqual(['a', 'b']);
    expect(scheduler.queuedCount).toBe(2);
    await finish('a');
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('serves waiting accounts round-robin rather than draining one account first', async () => {
    const { started, submit, finish } = harness({ globalConcurrency: 1 });
    void submit('blocker', 'blocker');
    for (const name of ['a1', 'a2', 'a3']) void submit('a', name);
    for (const name of ['b1', 'b2', 'b3']) void submit('b', name);

    for (const name of ['blocker', 'a1', 'b1', 'a2', 'b2', 'a3']) await finish(name);

    expect(started).toEqual(['blocker', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  });

  it('rejects a task beyond the queue bound with QueueFullError, counting only queued tasks', async () => {
    const { submit } = harness({ globalConcurrency: 1, maxQueue: 2 });
    void submit('a', 'running');
    void submit('a', 'queued1');
    void submit('b', 'queued2');

    const error = await submit('c', 'refused').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as Error).message).toBe('the task queue is full (2 queued tasks, runtime.max_queue); retry when tasks have finished');
  });

  it('queues a task that asks to run again at the front of its account’s queue, even when the queue is full', async () => {
    const { scheduler, started, submit, finish } = harness({ globalConcurrency: 1, maxQueue: 2 });
    let attempts = 0;
    const retried = scheduler.submit('a', async () => {
      attempts++;
      started.push(`a1, attempt ${attempts}`);
      if (attempts === 1) throw new RequeueTask('once more');
      return 'done';
    });
    void submit('a', 'a2');
    void submit('b', 'b1');
    await new Promise((done) => setImmediate(done));

    await expect(retried).resolves.toBe('done');
    // Ahead of a2, which was queued before the retry; then the round-robin moves on to b.
    expect(started).toEqual(['a1, attempt 1', 'a1, attempt 2', 'b1']);
    expect(scheduler.queuedCount).toBe(1);
    await finish('b1');
    expect(started.at(-1)).toBe('a2');
  });

  it('stops listening to a queued task’s signal however the task leaves the queue', async () => {
    const { scheduler, submit } = harness({ globalConcurrency: 1 });
    const signal = new AbortController().signal;
    const added = vi.spyOn(signal, 'addEventListener');
    const removed = vi.spyOn(signal, 'removeEventListener');
    void submit('a', 'running');
    const queued = submit('a', 'queued', signal);

    scheduler.close();

    await expect(queued).rejects.toBeInstanceOf(RuntimeClosedError);
    expect(removed.mock.calls.map(([, listener]) => listener)).toEqual(added.mock.calls.map(([, listener]) => listener));
  });

  it('drops a queued task whose signal aborts, and never starts it', async () => {
    const { scheduler, started, submit, finish } = harness();
    void submit('a', 'a1');
    const controller = new AbortController();
    const aborted = submit('a', 'a2', controller.signal);
    const after = submit('a', 'a3');

    controller.abort(new Error('the caller changed its mind'));

    await expect(aborted).rejects.toThrow('the caller changed its mind');
    expect(scheduler.queuedCount).toBe(1);
    await finish('a1');
    await finish('a3');
    await expect(after).resolves.toBe('a3');
    expect(started).toEqual(['a1', 'a3']);
  });

  it('rejects a task whose signal has already aborted without queueing it', async () => {
    const { scheduler, started, submit } = harness();

    await expect(submit('a', 'a1', AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    expect(started).toEqual([]);
    expect(scheduler.queuedCount).toBe(0);
  });

  it('rejects a task whose start throws and goes on with the next one', async () => {
    const { scheduler, started, submit, finish } = harness();
    const broken = scheduler.submit('a', () => {
      throw new Error('cannot start');
    });
    const next = submit('a', 'a2');

    await expect(broken).rejects.toThrow('cannot start');
    await new Promise((done) => setImmediate(done));
    expect(started).toEqual(['a2']);
    await finish('a2');
    await expect(next).resolves.toBe('a2');
  });

  it('holds a cooling account’s tasks while other accounts run, and starts them when the cooldown ends', async () => {
    vi.useFakeTimers();
    const { scheduler, cooldowns, started, submit } = harness();
    cooldowns.set('a', 500);
    void submit('a', 'a1');
    void submit('b', 'b1');

    expect(started).toEqual(['b1']);
    cooldowns.set('a', 0);
    await vi.advanceTimersByTimeAsync(500);
    expect(started).toEqual(['b1', 'a1']);
    expect(scheduler.queuedCount).toBe(0);
  });

  it('re-examines an account at once when told its cooldown changed', () => {
    const { scheduler, cooldowns, started, submit } = harness();
    cooldowns.set('a', 60_000);
    void submit('a', 'a1');
    expect(started).toEqual([]);

    cooldowns.set('a', 0);
    scheduler.cooldownChanged('a');

    expect(started).toEqual(['a1']);
  });

  it('fails a cooling account’s queued tasks with FloodCooldownError in fail mode, leaving other accounts alone', async () => {
    const { cooldowns, started, submit } = harness({ onCooldown: 'fail' });
    cooldowns.set('a', 1234);
    const failed = [settled(submit('a', 'a1')), settled(submit('a', 'a2'))];
    void submit('b', 'b1');

    for (const outcome of await Promise.all(failed)) {
      expect(outcome).toMatchObject({ status: 'rejected', reason: expect.any(FloodCooldownError) });
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ account: 'a', remainingMs: 1234, message: 'account a is cooling down after a FLOOD_WAIT for another 1234 ms' });
    }
    expect(started).toEqual(['b1']);
  });

  it('on close rejects queued and new tasks with RuntimeClosedError, lets running ones finish, then reports idle', async () => {
    const { scheduler, submit, finish } = harness({ globalConcurrency: 1 });
    const running = submit('a', 'a1');
    const queued = submit('b', 'b1');
    let idle = false;

    scheduler.close();
    const whenIdle = scheduler.whenIdle().then(() => {
      idle = true;
    });

    await expect(queued).rejects.toBeInstanceOf(RuntimeClosedError);
    await expect(submit('c', 'c1')).rejects.toThrow('the runtime is shutting down and accepts no new tasks');
    expect(idle).toBe(false);
    await finish('a1');
    await whenIdle;
    await expect(running).resolves.toBe('a1');
  });
});

describe('SingleFlight', () => {
  const empty = (): unknown => undefined;

  it('makes the first task that misses a key the leader and lets later ones wait for it', async () => {
    const flight = new SingleFlight(30_000);
    const cache = new Map<string, unknown>();
    const read = (): unknown => cache.get('@alice');

    expect(await flight.lookup('acc', '@alice', 'task1', read)).toEqual({ hit: false, leader: true });
    let waiterDone = false;
    const waiter = Promise.resolve(flight.lookup('acc', '@alice', 'task2', read)).finally(() => {
      waiterDone = true;
    });
    await new Promise((done) => setImmediate(done));
    expect(waiterDone).toBe(false);

    cache.set('@alice', { id: 1 });
    flight.settle('acc', '@alice', 'task1');

    await expect(waiter).resolves.toEqual({ hit: true, value: { id: 1 } });
    expect(flight.activeLeases).toBe(0);
  });

  it('hands the lead to a waiter when the leader settles without a value', async () => {
    const flight = new SingleFlight(30_000);
    await flight.lookup('acc', '@ghost', 'task1', empty);
    const waiter = flight.lookup('acc', '@ghost', 'task2', empty);

    flight.settle('acc', '@ghost', 'task1');

    await expect(waiter).resolves.toEqual({ hit: false, leader: true });
  });

  it('ignores a settle from a task that does not hold the lease', async () => {
    const flight = new SingleFlight(30_000);
    await flight.lookup('acc', '@alice', 'task1', empty);

    flight.settle('acc', '@alice', 'intruder');

    expect(flight.activeLeases).toBe(1);
  });

  it('keeps accounts apart: the same key of two accounts has two leaders', async () => {
    const flight = new SingleFlight(30_000);

    expect(await flight.lookup('a', '@alice', 'task1', empty)).toEqual({ hit: false, leader: true });
    expect(await flight.lookup('b', '@alice', 'task2', empty)).toEqual({ hit: false, leader: true });
  });

  it('releases every lease of a task that ended, waking its waiters', async () => {
    const flight = new SingleFlight(30_000);
    await flight.lookup('acc', '@a', 'crashed', empty);
    await flight.lookup('acc', '@b', 'crashed', empty);
    const waiters = [flight.lookup('acc', '@a', 'task2', empty), flight.lookup('acc', '@b', 'task3', empty)];

    flight.releaseOwner('crashed');

    await expect(Promise.all(waiters)).resolves.toEqual([
      { hit: false, leader: true },
      { hit: false, leader: true },
    ]);
  });

  it('expires a lease whose holder never settles', async () => {
    vi.useFakeTimers();
    try {
      const flight = new SingleFlight(1000);
      await flight.lookup('acc', '@alice', 'hung', empty);
      const waiter = flight.lookup('acc', '@alice', 'task2', empty);

      await vi.advanceTimersByTimeAsync(1000);

      await expect(waiter).resolves.toEqual({ hit: false, leader: true });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('a task’s waits on the main thread when the task goes away', () => {
  it('never lets a waiting lookup of an ended task take a lease that nobody would release', async () => {
    const cache = new TelegramCache({ scope: 'process', maxSize: 10 });
    const singleFlight = new SingleFlight(30_000);
    const services = { singleFlight, flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0 }) };
    const crashed = new AccountEndpoint(cache, 'acc', 'crashed', services);
    const next = new AccountEndpoint(cache, 'acc', 'next', services);

    expect(await crashed.lookup('@alice')).toEqual({ hit: false, leader: true });
    const secondLookupOfCrashed = crashed.lookup('@alice');
    crashed.release();

    await expect(secondLookupOfCrashed).rejects.toMatchObject({ name: 'AbortError' });
    expect(singleFlight.activeLeases).toBe(0);
    expect(await next.lookup('@alice')).toEqual({ hit: false, leader: true });
  });

  it('lets tasks of one account in task scope each fetch for their own cache instead of waiting on another', async () => {
    const singleFlight = new SingleFlight(30_000);
    const services = { singleFlight, flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0 }) };
    const first = new AccountEndpoint(new TelegramCache({ scope: 'task', maxSize: 10 }), 'acc', 't1', services);
    const second = new AccountEndpoint(new TelegramCache({ scope: 'task', maxSize: 10 }), 'acc', 't2', services);

    expect(await first.lookup('@alice')).toEqual({ hit: false, leader: true });
    expect(await second.lookup('@alice')).toEqual({ hit: false, leader: true });
    expect(singleFlight.activeLeases).toBe(2);
  });

  it('stops a resolve-permit wait, and its timer, when the task is cancelled', async () => {
    const flood = new FloodControl({ timeScale: 1, resolvesPerMinute: 1 });
    const endpoint = new AccountEndpoint(new TelegramCache({ maxSize: 10 }), 'acc', 't1', { singleFlight: new SingleFlight(30_000), flood });
    await endpoint.acquireResolvePermit();
    const minuteLong = endpoint.acquireResolvePermit();

    endpoint.cancel('the caller aborted the task');

    await expect(minuteLong).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('FloodControl', () => {
  it('cools only the named account down, for the wait scaled to real time, and reports it', () => {
    let now = 1_000;
    const reporter = new Reporter();
    const events = recordEvents(reporter, 'flood:cooldown');
    const changed: string[] = [];
    const flood = new FloodControl({ timeScale: 0.01, resolvesPerMinute: 0, reporter, onCooldownChange: (account) => changed.push(account), clock: () => now });

    flood.coolDown('a', 5, 'FLOOD_WAIT');

    expect(flood.remaining('a')).toBe(50);
    expect(flood.remaining('b')).toBe(0);
    expect(events).toEqual([{ account: 'a', seconds: 5, method: 'FLOOD_WAIT', cooldownMs: 50 }]);
    expect(changed).toEqual(['a']);
    now += 30;
    expect(flood.remaining('a')).toBe(20);
    now += 20;
    expect(flood.remaining('a')).toBe(0);
  });

  it('keeps the longer of two overlapping cooldowns', () => {
    const reporter = new Reporter();
    const events = recordEvents(reporter, 'flood:cooldown');
    const flood = new FloodControl({ timeScale: 1, resolvesPerMinute: 0, reporter, clock: () => 0 });

    flood.coolDown('a', 60, 'contacts.ResolveUsername');
    flood.coolDown('a', 10, 'users.GetUsers');

    expect(flood.remaining('a')).toBe(60_000);
    expect(events).toHaveLength(1);
  });

  it('spaces an account’s resolves under the runtime’s own per-minute cap', async () => {
    vi.useFakeTimers();
    try {
      // 60 resolves per Telegram minute at a hundredfold time scale: one every 10 real ms.
      const flood = new FloodControl({ timeScale: 0.01, resolvesPerMinute: 60 });
      const granted: string[] = [];
      const ask = (name: string, account = 'a'): Promise<void> => flood.acquireResolvePermit(account).then(() => void granted.push(name));
      const permits = [ask('first'), ask('second'), ask('third'), ask('other account', 'b')];

      await vi.advanceTimersByTimeAsync(0);
      expect(granted).toEqual(['first', 'other account']);
      await vi.advanceTimersByTimeAsync(10);
      expect(granted).toEqual(['first', 'other account', 'second']);
      await vi.advanceTimersByTimeAsync(10);
      expect(granted).toEqual(['first', 'other account', 'second', 'third']);
      await Promise.all(permits);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Reporter', () => {
  it('removes a listener from the one event it is taken off, when the same function listens to two', () => {
    const reporter = new Reporter();
    const seen: string[] = [];
    const listener = ({ taskId }: { taskId: string }): void => void seen.push(taskId);
    reporter.on('task:end', listener);
    reporter.on('task:error', listener);

    reporter.off('task:end', listener);
    reporter.emit('task:end', { taskId: 'ended', account: 'a', task: 't', durationMs: 1 });
    reporter.emit('task:error', { taskId: 'failed', account: 'a', task: 't', durationMs: 1, error: { name: 'Error', message: 'x' } });

    expect(seen).toEqual(['failed']);
    expect(reporter.listenerCount('task:end')).toBe(0);
  });

  it('delivers typed events to their listeners until they are removed', () => {
    const reporter = new Reporter();
    const seen: string[] = [];
    const listener = ({ taskId }: { taskId: string }): void => void seen.push(taskId);
    reporter.on('task:end', listener);

    reporter.emit('task:end', { taskId: 't1', account: 'a', task: 'noop', durationMs: 1 });
    reporter.off('task:end', listener);
    reporter.emit('task:end', { taskId: 't2', account: 'a', task: 'noop', durationMs: 1 });

    expect(seen).toEqual(['t1']);
    expect(reporter.listenerCount('task:end')).toBe(0);
  });

  it('reports a throwing listener as listener:error and logs it, while the other listeners still run', () => {
    const memory = memoryLogger();
    const reporter = new Reporter(memory.logger);
    const listenerErrors = recordEvents(reporter, 'listener:error');
    const failure = new Error('metrics backend is down');
    reporter.on('task:start', () => {
      throw failure;
    });
    const starts = recordEvents(reporter, 'task:start');

    expect(() => reporter.emit('task:start', { taskId: 't1', account: 'a', task: 'noop', cacheScope: 'task', warmStart: false })).not.toThrow();

    expect(starts).toHaveLength(1);
    expect(listenerErrors).toEqual([{ event: 'task:start', error: failure }]);
    expect(memory.lines).toMatchObject([{ level: 50, event: 'task:start', msg: 'a reporter listener threw' }]);
  });

  it('does not loop when a listener:error listener throws too', () => {
    const reporter = new Reporter();
    reporter.on('listener:error', () => {
      throw new Error('the error handler is broken as well');
    });
    reporter.on('task:end', () => {
      throw new Error('broken');
    });

    expect(() => reporter.emit('task:end', { taskId: 't1', account: 'a', task: 'noop', durationMs: 1 })).not.toThrow();
  });
});
