import { afterEach, describe, expect, test, vi } from 'vitest';
import { TelegramCache, TelegramCacheScope, type EvictionReason, type TelegramCacheOptions } from '../src/cache/telegram-cache.js';

const ALICE = '+15550000001';
const BOB = '+15550000002';
const CAROL = '+15550000003';

/** A clock the test moves by hand, so expiry never depends on how fast the machine is. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

type Eviction = [account: string, key: string, reason: EvictionReason];

/** A string cache on a manual clock that records every eviction it reports. */
function setup(options: Partial<TelegramCacheOptions> = {}) {
  const clock = manualClock();
  const evictions: Eviction[] = [];
  const cache = new TelegramCache<string>({
    maxSize: 100,
    clock: clock.now,
    onEvict: (account, key, reason) => evictions.push([account, key, reason]),
    ...options,
  });
  return { cache, clock, evictions };
}

/** Stores `key -> "account:key"` for each key, so a read shows whose entry it returned. */
function fill(cache: TelegramCache<string>, account: string, keys: readonly string[], ttlMs?: number): void {
  for (const key of keys) cache.set(account, key, `${account}:${key}`, ttlMs);
}

function liveKeys(cache: TelegramCache<string>, account: string, keys: readonly string[]): string[] {
  return keys.filter((key) => cache.has(account, key));
}

const counts = (partial: { hits?: number; misses?: number; sets?: number; invalidations?: number; capacity?: number; accountCap?: number; expired?: number; size?: number }) => ({
  hits: partial.hits ?? 0,
  misses: partial.misses ?? 0,
  sets: partial.sets ?? 0,
  invalidations: partial.invalidations ?? 0,
  evictions: { capacity: partial.capacity ?? 0, accountCap: partial.accountCap ?? 0, expired: partial.expired ?? 0 },
  size: partial.size ?? 0,
  // What entries cost in bytes has tests of its own (telegram-cache-bytes.test.ts).
  bytes: expect.any(Number) as number,
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('account isolation', () => {
  test('the same key under two accounts holds two separate entries, each readable only by its own account', () => {
    const { cache } = setup();
    cache.set(ALICE, 'durov', 'alice-hash');
    expect(cache.get(BOB, 'durov')).toBeUndefined();
    expect(cache.has(BOB, 'durov')).toBe(false);
    cache.set(BOB, 'durov', 'bob-hash');
    expect(cache.get(ALICE, 'durov')).toBe('alice-hash');
    expect(cache.get(BOB, 'durov')).toBe('bob-hash');
    expect(cache.size).toBe(2);
  });

  test('delete and invalidateAccount touch only the named account', () => {
    const { cache } = setup();
    fill(cache, ALICE, ['a', 'b']);
    fill(cache, BOB, ['a', 'b']);
    expect(cache.delete(ALICE, 'a')).toBe(true);
    expect(cache.get(BOB, 'a')).toBe(`${BOB}:a`);
    expect(cache.invalidateAccount(BOB)).toBe(2);
    expect(cache.get(ALICE, 'b')).toBe(`${ALICE}:b`);
    expect([cache.size, cache.accountSize(ALICE), cache.accountSize(BOB)]).toEqual([1, 1, 0]);
  });
});

describe('LRU order', () => {
  test('at maxSize the least recently used entry goes, and a get makes an entry recent again', () => {
    const { cache, evictions } = setup({ maxSize: 3 });
    fill(cache, ALICE, ['a', 'b', 'c']);
    cache.get(ALICE, 'a');
    fill(cache, ALICE, ['d']);
    expect(liveKeys(cache, ALICE, ['a', 'b', 'c', 'd'])).toEqual(['a', 'c', 'd']);
    expect(evictions).toEqual([[ALICE, 'b', 'capacity']]);
  });

  test('has() neither refreshes recency nor counts a hit or a miss', () => {
    const { cache } = setup({ maxSize: 3 });
    fill(cache, ALICE, ['a', 'b', 'c']);
    expect(cache.has(ALICE, 'a')).toBe(true);
    expect(cache.has(ALICE, 'zzz')).toBe(false);
    fill(cache, ALICE, ['d']);
    expect(liveKeys(cache, ALICE, ['a', 'b', 'c', 'd'])).toEqual(['b', 'c', 'd']);
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 0 });
  });

  test('maxSize evicts the globally oldest entry, whichever account owns it', () => {
    const { cache, evictions } = setup({ maxSize: 3 });
    cache.set(BOB, 'x', 'bob');
    fill(cache, ALICE, ['a', 'b']);
    fill(cache, CAROL, ['c']);
    expect(evictions).toEqual([[BOB, 'x', 'capacity']]);
    expect([cache.size, cache.accountSize(BOB)]).toEqual([3, 0]);
  });

  test('overwriting a key replaces the value, refreshes recency and keeps the counts', () => {
    const { cache } = setup({ maxSize: 3, perAccountMaxEntries: 3 });
    fill(cache, ALICE, ['a', 'b', 'c']);
    cache.set(ALICE, 'a', 'newer');
    expect([cache.size, cache.accountSize(ALICE), cache.stats().accounts[ALICE]?.size]).toEqual([3, 3, 3]);
    fill(cache, ALICE, ['d']);
    expect(cache.get(ALICE, 'a')).toBe('newer');
    expect(cache.has(ALICE, 'b')).toBe(false);
    expect(cache.stats()).toMatchObject({ sets: 5, size: 3, evictions: { capacity: 0, accountCap: 1, expired: 0 } });
  });

  test('invalidateAccount leaves the recency order of the other accounts intact', () => {
    const { cache, evictions } = setup({ maxSize: 4 });
    cache.set(BOB, 'b1', 'x');
    fill(cache, ALICE, ['a1', 'a2']);
    cache.set(BOB, 'b2', 'x');
    cache.invalidateAccount(ALICE);
    fill(cache, CAROL, ['c1', 'c2', 'c3']);
    expect(evictions).toEqual([[BOB, 'b1', 'capacity']]);
    expect(liveKeys(cache, BOB, ['b1', 'b2'])).toEqual(['b2']);
  });
});

describe('cold writes (values seen in passing)', () => {
  test('a cold entry goes in as the least recently used, so it is the first to make room', () => {
    const { cache, evictions } = setup({ maxSize: 3 });
    fill(cache, ALICE, ['a', 'b']);
    cache.set(ALICE, 'seen', 'seen in passing', undefined, 'cold');

    fill(cache, ALICE, ['c']);

    expect(evictions).toEqual([[ALICE, 'seen', 'capacity']]);
    expect(liveKeys(cache, ALICE, ['a', 'b', 'c', 'seen'])).toEqual(['a', 'b', 'c']);
  });

  test('a cold entry is never stored at the cost of another: a full cache or an account at its cap leaves it out', () => {
    const { cache, evictions } = setup({ maxSize: 2, perAccountMaxEntries: 1 });
    fill(cache, ALICE, ['a']);
    fill(cache, BOB, ['b']);

    expect(cache.set(CAROL, 'seen', 'x', undefined, 'cold')).toBe(false);
    expect(cache.set(ALICE, 'seen', 'x', undefined, 'cold')).toBe(false);

    expect(evictions).toEqual([]);
    expect(cache.size).toBe(2);
    expect(cache.stats().sets).toBe(2);
  });

  test('a cold write refreshes an existing entry without making it recent', () => {
    const { cache, evictions } = setup({ maxSize: 2 });
    fill(cache, ALICE, ['a', 'b']);

    cache.set(ALICE, 'a', 'fresher value', undefined, 'cold');
    fill(cache, ALICE, ['c']);

    expect(evictions).toEqual([[ALICE, 'a', 'capacity']]);
  });

  test('a cold entry that a task then reads becomes recent like any other', () => {
    const { cache, evictions } = setup({ maxSize: 2 });
    fill(cache, ALICE, ['a']);
    cache.set(ALICE, 'seen', 'seen in passing', undefined, 'cold');

    expect(cache.get(ALICE, 'seen')).toBe('seen in passing');
    fill(cache, ALICE, ['c']);

    expect(evictions).toEqual([[ALICE, 'a', 'capacity']]);
  });
});

describe('per-account cap', () => {
  test("one noisy account at its cap evicts only its own oldest entries, never another account's", () => {
    const { cache, evictions } = setup({ maxSize: 10, perAccountMaxEntries: 3 });
    fill(cache, BOB, ['b1', 'b2']);
    fill(cache, CAROL, ['c1']);
    const noisy = Array.from({ length: 50 }, (_, i) => `n${i}`);
    fill(cache, ALICE, noisy);

    expect(liveKeys(cache, BOB, ['b1', 'b2'])).toEqual(['b1', 'b2']);
    expect(liveKeys(cache, CAROL, ['c1'])).toEqual(['c1']);
    expect(liveKeys(cache, ALICE, noisy)).toEqual(['n47', 'n48', 'n49']);
    expect(evictions.every(([account, , reason]) => account === ALICE && reason === 'accountCap')).toBe(true);
    expect(cache.accountStats(ALICE).evictions.accountCap).toBe(47);
    expect(cache.accountStats(BOB).evictions).toEqual({ capacity: 0, accountCap: 0, expired: 0 });
  });

  test("the account's least recently used entry goes, not its first inserted", () => {
    const { cache, evictions } = setup({ perAccountMaxEntries: 2 });
    fill(cache, ALICE, ['a', 'b']);
    cache.get(ALICE, 'a');
    fill(cache, ALICE, ['c']);
    expect(evictions).toEqual([[ALICE, 'b', 'accountCap']]);
  });

  test('an account under its cap can still lose its entry to global capacity', () => {
    const { cache, evictions } = setup({ maxSize: 2, perAccountMaxEntries: 2 });
    fill(cache, BOB, ['b']);
    fill(cache, ALICE, ['a1', 'a2']);
    expect(evictions).toEqual([[BOB, 'b', 'capacity']]);
  });
});

describe('expiry on an injected clock', () => {
  test('an entry lives exactly its default TTL', () => {
    const { cache, clock, evictions } = setup({ defaultTtlMs: 100 });
    fill(cache, ALICE, ['a']);
    clock.advance(99);
    expect(cache.get(ALICE, 'a')).toBe(`${ALICE}:a`);
    clock.advance(1);
    expect(cache.has(ALICE, 'a')).toBe(false);
    expect(cache.get(ALICE, 'a')).toBeUndefined();
    expect(evictions).toEqual([[ALICE, 'a', 'expired']]);
    expect([cache.size, cache.accountSize(ALICE)]).toEqual([0, 0]);
    expect(cache.accountStats(ALICE)).toEqual(counts({ hits: 1, misses: 1, sets: 1, expired: 1 }));
  });

  test('a per-entry TTL overrides the default, and a TTL of 0 never expires', () => {
    const { cache, clock } = setup({ defaultTtlMs: 100 });
    fill(cache, ALICE, ['short'], 10);
    fill(cache, ALICE, ['default']);
    fill(cache, ALICE, ['forever'], 0);
    clock.advance(10);
    expect(liveKeys(cache, ALICE, ['short', 'default', 'forever'])).toEqual(['default', 'forever']);
    clock.advance(1_000_000_000);
    expect(liveKeys(cache, ALICE, ['short', 'default', 'forever'])).toEqual(['forever']);
  });

  test('without a default TTL entries never expire', () => {
    const { cache, clock } = setup();
    fill(cache, ALICE, ['a']);
    clock.advance(Number.MAX_SAFE_INTEGER / 2);
    expect(cache.get(ALICE, 'a')).toBe(`${ALICE}:a`);
  });

  test('overwriting an entry restarts its TTL', () => {
    const { cache, clock } = setup({ defaultTtlMs: 100 });
    fill(cache, ALICE, ['a']);
    clock.advance(90);
    fill(cache, ALICE, ['a']);
    clock.advance(90);
    expect(cache.get(ALICE, 'a')).toBe(`${ALICE}:a`);
  });

  test('an expired entry pushed out by capacity or by the account cap counts as expired', () => {
    const { cache, clock, evictions } = setup({ maxSize: 2, perAccountMaxEntries: 1 });
    fill(cache, ALICE, ['old'], 10);
    fill(cache, BOB, ['old'], 10);
    clock.advance(10);
    fill(cache, ALICE, ['new']);
    fill(cache, CAROL, ['new']);
    expect(evictions).toEqual([
      [ALICE, 'old', 'expired'],
      [BOB, 'old', 'expired'],
    ]);
    expect(cache.stats().evictions).toEqual({ capacity: 0, accountCap: 0, expired: 2 });
  });

  test('removeExpired() sweeps every expired entry, keeps live ones and reports how many went', () => {
    const { cache, clock, evictions } = setup({ defaultTtlMs: 100 });
    fill(cache, ALICE, ['a1', 'a2'], 10);
    fill(cache, BOB, ['b1'], 10);
    fill(cache, BOB, ['b2']);
    clock.advance(10);
    expect(cache.removeExpired()).toBe(3);
    expect(evictions.map(([account, key, reason]) => `${account}/${key}/${reason}`).sort()).toEqual([`${ALICE}/a1/expired`, `${ALICE}/a2/expired`, `${BOB}/b1/expired`].sort());
    expect([cache.size, cache.accountSize(ALICE), cache.accountSize(BOB)]).toEqual([1, 0, 1]);
    expect(cache.removeExpired()).toBe(0);
  });

  test('isWarm() reports live entries overall and per account, and turns false once they expire', () => {
    const { cache, clock } = setup();
    expect([cache.isWarm(), cache.isWarm(ALICE)]).toEqual([false, false]);
    fill(cache, ALICE, ['a'], 50);
    fill(cache, BOB, ['b'], 10);
    expect([cache.isWarm(), cache.isWarm(ALICE), cache.isWarm(BOB), cache.isWarm(CAROL)]).toEqual([true, true, true, false]);
    clock.advance(10);
    // Bob's entry is still stored, but stale entries do not make a warm start.
    expect(cache.accountSize(BOB)).toBe(1);
    expect([cache.isWarm(), cache.isWarm(ALICE), cache.isWarm(BOB)]).toEqual([true, true, false]);
    clock.advance(40);
    expect(cache.isWarm()).toBe(false);
  });
});

describe('counts and statistics', () => {
  test('per-account counts stay exact through insert, overwrite, delete, expiry, eviction and invalidateAccount', () => {
    const { cache, clock } = setup({ maxSize: 5, perAccountMaxEntries: 3 });
    const sizes = () => [ALICE, BOB, CAROL].map((a) => [cache.accountSize(a), cache.accountStats(a).size, cache.stats().accounts[a]?.size ?? 0]);
    const expectSizes = (total: number, alice: number, bob: number, carol: number) => {
      expect(cache.size).toBe(total);
      expect(cache.stats().size).toBe(total);
      expect(sizes()).toEqual([alice, bob, carol].map((n) => [n, n, n]));
    };

    fill(cache, ALICE, ['a1', 'a2', 'a3']);
    expectSizes(3, 3, 0, 0);
    fill(cache, ALICE, ['a1']);
    expectSizes(3, 3, 0, 0);
    fill(cache, ALICE, ['a4']);
    expectSizes(3, 3, 0, 0);
    fill(cache, BOB, ['b1', 'b2'], 10);
    expectSizes(5, 3, 2, 0);
    fill(cache, CAROL, ['c1']);
    expectSizes(5, 2, 2, 1);
    cache.delete(BOB, 'b1');
    expectSizes(4, 2, 1, 1);
    clock.advance(10);
    cache.get(BOB, 'b2');
    expectSizes(3, 2, 0, 1);
    cache.invalidateAccount(ALICE);
    expectSizes(1, 0, 0, 1);
    cache.clear();
    expectSizes(0, 0, 0, 0);
  });

  test('stats() and accountStats() count hits, misses, sets, invalidations and evictions by reason', () => {
    const { cache, clock } = setup({ maxSize: 3, perAccountMaxEntries: 2 });
    fill(cache, ALICE, ['a1', 'a2']);
    fill(cache, ALICE, ['a3']); // account cap evicts a1
    fill(cache, BOB, ['b1'], 5);
    fill(cache, BOB, ['b2']); // capacity evicts a2
    cache.get(ALICE, 'a3');
    cache.get(ALICE, 'a1');
    cache.get(CAROL, 'c1');
    cache.delete(ALICE, 'a3');
    cache.delete(ALICE, 'a3');
    clock.advance(5);
    cache.get(BOB, 'b1');

    expect(cache.accountStats(ALICE)).toEqual(counts({ hits: 1, misses: 1, sets: 3, invalidations: 1, accountCap: 1, capacity: 1 }));
    expect(cache.accountStats(BOB)).toEqual(counts({ misses: 1, sets: 2, expired: 1, size: 1 }));
    expect(cache.accountStats(CAROL)).toEqual(counts({ misses: 1 }));
    expect(cache.stats()).toEqual({
      ...counts({ hits: 1, misses: 3, sets: 5, invalidations: 1, accountCap: 1, capacity: 1, expired: 1, size: 1 }),
      scope: TelegramCacheScope.TASK,
      policy: 'lru',
      maxSize: 3,
      maxBytes: null,
      perAccountMaxEntries: 2,
      accounts: { [ALICE]: cache.accountStats(ALICE), [BOB]: cache.accountStats(BOB), [CAROL]: cache.accountStats(CAROL) },
    });
  });

  test('invalidateAccount counts one invalidation per dropped entry and none for an unknown account', () => {
    const { cache, evictions } = setup();
    fill(cache, ALICE, ['a', 'b', 'c']);
    expect(cache.invalidateAccount(ALICE)).toBe(3);
    expect(cache.invalidateAccount(CAROL)).toBe(0);
    expect(cache.stats().invalidations).toBe(3);
    expect(evictions).toEqual([]);
  });

  test('delete reports whether an entry was there and is not an eviction', () => {
    const { cache, evictions } = setup();
    fill(cache, ALICE, ['a']);
    expect(cache.delete(ALICE, 'a')).toBe(true);
    expect(cache.delete(ALICE, 'a')).toBe(false);
    expect(cache.delete(BOB, 'a')).toBe(false);
    expect(evictions).toEqual([]);
  });

  test('accountStats() of an account the cache never saw is all zero', () => {
    expect(setup().cache.accountStats(CAROL)).toEqual(counts({}));
  });

  test('stats() returns a snapshot that later operations do not change', () => {
    const { cache } = setup();
    const before = cache.stats();
    fill(cache, ALICE, ['a']);
    cache.get(ALICE, 'a');
    expect(before).toMatchObject({ hits: 0, sets: 0, size: 0, accounts: {} });
  });

  test('clear() forgets entries and statistics', () => {
    const { cache } = setup();
    fill(cache, ALICE, ['a']);
    cache.get(ALICE, 'a');
    cache.clear();
    expect(cache.get(ALICE, 'a')).toBeUndefined();
    expect(cache.stats()).toMatchObject(counts({ misses: 1 }));
  });
});

describe('background cleanup', () => {
  const processCache = (options: Partial<TelegramCacheOptions> = {}) =>
    new TelegramCache<string>({ scope: TelegramCacheScope.PROCESS, maxSize: 10, enableBackgroundCleanup: true, cleanupIntervalMs: 1_000, ...options });

  test('in process scope a timer sweeps expired entries every interval until shutdown()', () => {
    vi.useFakeTimers();
    const cache = processCache({ defaultTtlMs: 500 });
    fill(cache, ALICE, ['a', 'b']);
    vi.advanceTimersByTime(999);
    expect(cache.size).toBe(2);
    vi.advanceTimersByTime(1);
    expect(cache.size).toBe(0);
    expect(cache.stats().evictions.expired).toBe(2);

    cache.shutdown();
    expect(vi.getTimerCount()).toBe(0);
    fill(cache, ALICE, ['c']);
    vi.advanceTimersByTime(10_000);
    expect(cache.size).toBe(1);
    cache.shutdown();
  });

  test('no timer runs in task scope, for an isolated cache or when cleanup is not asked for', () => {
    vi.useFakeTimers();
    new TelegramCache({ scope: TelegramCacheScope.TASK, maxSize: 10 });
    new TelegramCache({ scope: TelegramCacheScope.PROCESS, maxSize: 10 });
    TelegramCache.createIsolated(10);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('the cleanup timer does not keep the process alive', () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const cache = processCache();
    const timer = setIntervalSpy.mock.results[0]?.value as NodeJS.Timeout | undefined;
    expect(timer?.hasRef()).toBe(false);
    cache.shutdown();
  });
});

describe('construction', () => {
  test('createIsolated(maxSize) makes a task-scoped cache with no task id', () => {
    const cache = TelegramCache.createIsolated<string>(7, { perAccountMaxEntries: 2 });
    expect([cache.scope, cache.taskId, cache.maxSize, cache.perAccountMaxEntries]).toEqual([TelegramCacheScope.TASK, null, 7, 2]);
  });

  test('defaults: task scope, no task id, no per-account cap, no expiry', () => {
    const cache = new TelegramCache({ maxSize: 1 });
    expect([cache.scope, cache.taskId, cache.perAccountMaxEntries, cache.defaultTtlMs]).toEqual([TelegramCacheScope.TASK, null, null, 0]);
  });

  test.each([
    ['maxSize', { maxSize: 0 }, /maxSize .* got 0/],
    ['a fractional maxSize', { maxSize: 1.5 }, /maxSize .* got 1\.5/],
    ['perAccountMaxEntries', { maxSize: 5, perAccountMaxEntries: 0 }, /perAccountMaxEntries .* got 0/],
    ['defaultTtlMs', { maxSize: 5, defaultTtlMs: -1 }, /defaultTtlMs .* got -1/],
    ['a NaN defaultTtlMs', { maxSize: 5, defaultTtlMs: Number.NaN }, /defaultTtlMs .* got NaN/],
    ['cleanupIntervalMs', { maxSize: 5, scope: TelegramCacheScope.PROCESS, enableBackgroundCleanup: true, cleanupIntervalMs: 0 }, /cleanupIntervalMs .* got 0/],
  ] satisfies [string, TelegramCacheOptions, RegExp][])('a bad %s is a RangeError naming the option and the value', (_, options, message) => {
    expect(() => new TelegramCache(options)).toThrow(RangeError);
    expect(() => new TelegramCache(options)).toThrow(message);
  });

  test('a negative per-entry TTL is a RangeError and stores nothing', () => {
    const { cache } = setup();
    expect(() => cache.set(ALICE, 'a', 'x', -5)).toThrow(new RangeError('ttlMs must be 0 (no expiry), a positive number of milliseconds or Infinity, got -5'));
    expect([cache.size, cache.stats().sets]).toEqual([0, 0]);
  });

  test('asking for background cleanup in task scope is refused', () => {
    expect(() => new TelegramCache({ maxSize: 5, enableBackgroundCleanup: true })).toThrow(/only in process scope/);
  });
});
