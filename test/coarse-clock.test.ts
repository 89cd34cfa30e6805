import { describe, expect, test, vi } from 'vitest';
import { coarseNow } from '../src/cache/coarse-clock.js';
import { TelegramCache } from '../src/cache/telegram-cache.js';

/** Resolves once the wall clock has passed `instant`, yielding to the event loop between looks. */
async function wallClockPast(instant: number): Promise<void> {
  while (Date.now() <= instant) await new Promise((resolve) => setTimeout(resolve, 1));
}

describe('the cache reads the wall clock once per turn of the event loop', () => {
  test('one synchronous stretch sees one time; the next turn sees the clock move', async () => {
    const first = coarseNow();
    expect(coarseNow()).toBe(first);
    await wallClockPast(first);
    expect(coarseNow()).toBeGreaterThan(first);
  });

  test('an entry set with the wall clock expires once the clock has passed its TTL', async () => {
    const cache = new TelegramCache<string>({ maxSize: 4, clock: Date.now });
    cache.set('+10000000001', 'durov', 'entity', 2);
    const setAt = Date.now();
    expect(cache.get('+10000000001', 'durov')).toBe('entity');
    await wallClockPast(setAt + 2);
    expect(cache.get('+10000000001', 'durov')).toBeUndefined();
    expect(cache.stats().evictions.expired).toBe(1);
  });

  test('fake timers move the cache’s time at once, within one synchronous stretch', () => {
    vi.useFakeTimers();
    try {
      const cache = new TelegramCache<string>({ maxSize: 4 });
      cache.set('+10000000001', 'durov', 'entity', 500);
      vi.advanceTimersByTime(499);
      expect(cache.get('+10000000001', 'durov')).toBe('entity');
      vi.advanceTimersByTime(1);
      expect(cache.get('+10000000001', 'durov')).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});
