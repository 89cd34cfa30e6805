import { afterEach, describe, expect, it, vi } from 'vitest';
import { LinkedQueue } from '../src/runtime/linked-queue.js';
import { Scheduler } from '../src/runtime/scheduler.js';

function scheduler(cooldowns = new Map<string, number>()): Scheduler {
  return new Scheduler({
    globalConcurrency: 1,
    perAccountConcurrency: 1,
    maxQueue: 1_000_000,
    cooldownRemaining: (account) => cooldowns.get(account) ?? 0,
    onCooldown: 'wait',
  });
}

describe('LinkedQueue', () => {
  it('pops in order and removes from the middle, either end and twice without harm', () => {
    const queue = new LinkedQueue<string>();
    const a = queue.push('a');
    const b = queue.push('b');
    const c = queue.push('c');
    queue.unshift('first');

    expect(queue.remove(b)).toBe(true);
    expect(queue.remove(b)).toBe(false);
    expect(queue.remove(c)).toBe(true);
    expect(queue.length).toBe(2);
    expect(queue.shift()).toBe('first');
    expect(queue.remove(a)).toBe(true);
    expect(queue.shift()).toBeUndefined();
    expect(queue.length).toBe(0);
    queue.push('again');
    expect(queue.drain()).toEqual(['again']);
  });
});

describe('Scheduler queues at scale', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs 100,000 queued tasks of one account, in submission order', async () => {
    const runner = scheduler();
    const order: number[] = [];
    const results = Array.from({ length: 100_000 }, (_, index) =>
      runner.submit('a', async () => {
        order.push(index);
        return index;
      }),
    );

    await Promise.all(results);
    await runner.whenIdle();

    expect(order).toHaveLength(100_000);
    expect(order.every((value, index) => value === index)).toBe(true);
  });

  it('aborts 100,000 queued tasks of one account that share one signal, none of them started', async () => {
    const runner = scheduler();
    let release: () => void = () => {};
    void runner.submit('a', () => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    let started = 0;
    const queued = Array.from({ length: 100_000 }, () =>
      runner
        .submit(
          'a',
          async () => {
            started++;
          },
          controller.signal,
        )
        .catch((error: unknown) => error),
    );
    expect(runner.queuedCount).toBe(100_000);

    controller.abort();
    const errors = await Promise.all(queued);
    release();
    await runner.whenIdle();

    expect(errors.every((error) => (error as Error).name === 'AbortError')).toBe(true);
    expect(started).toBe(0);
    expect(runner.queuedCount).toBe(0);
  });

  it('drops the cooldown timer of an account whose queue was emptied by aborts', async () => {
    vi.useFakeTimers();
    const runner = scheduler(new Map([['a', 60_000]]));
    const controller = new AbortController();
    const waiting = runner.submit('a', async () => 'ran', controller.signal).catch((error: unknown) => error);
    expect(vi.getTimerCount()).toBe(1);

    controller.abort();

    expect(await waiting).toMatchObject({ name: 'AbortError' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
