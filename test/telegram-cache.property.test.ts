import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { heapBytesOf, stringBytes } from '../src/cache/heap-size.js';
import { ENTRY_OVERHEAD_BYTES, TelegramCache, type AccountCacheStats, type EvictionReason } from '../src/cache/telegram-cache.js';

const ACCOUNTS = ['+10000000001', '+10000000002', '+10000000003', '+10000000004', '+10000000005'] as const;
const KEYS = ['k0', 'k1', 'k2', 'k3'] as const;
const DEFAULT_TTL_MS = 30;
/** Times move in coarse ticks so that reads land exactly on an expiry instant often. */
const TICK_MS = 5;
const ticks = (max: number) => fc.integer({ min: 1, max }).map((n) => n * TICK_MS);

type Op =
  | { kind: 'set'; account: string; key: string; ttlMs: number | undefined; cold: boolean }
  | { kind: 'get'; account: string; key: string }
  | { kind: 'has'; account: string; key: string }
  | { kind: 'delete'; account: string; key: string }
  | { kind: 'invalidateAccount'; account: string }
  | { kind: 'isWarm'; account: string }
  | { kind: 'advance'; ms: number }
  | { kind: 'removeExpired' }
  | { kind: 'clear' };

const account = fc.constantFrom(...ACCOUNTS);
const key = fc.constantFrom(...KEYS);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      account,
      key,
      ttlMs: fc.option(fc.oneof(fc.constant(0), ticks(12)), { nil: undefined }),
      cold: fc.boolean(),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('get' as const), account, key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('has' as const), account, key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), account, key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidateAccount' as const), account }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('isWarm' as const), account }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.constant(0), ticks(8)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeExpired' as const) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

/** Every value names the account that stored it, so a read can prove whose entry it got. */
interface Value {
  account: string;
  key: string;
  version: number;
}

interface ModelEntry {
  account: string;
  key: string;
  value: Value;
  expiresAt: number;
}

type Eviction = [account: string, key: string, reason: EvictionReason];

const emptyStats = (): AccountCacheStats => ({
  hits: 0,
  misses: 0,
  sets: 0,
  invalidations: 0,
  evictions: { capacity: 0, accountCap: 0, expired: 0 },
  size: 0,
  bytes: 0,
});

/**
 * The cache's rules written as plainly as possible: one array in recency order (oldest first).
 * An account's own recency order is its entries' order in that array, because every touch moves
 * an entry to the newest end of both lists at once.
 */
class Model {
  entries: ModelEntry[] = [];
  stats = new Map<string, AccountCacheStats>();
  evictions: Eviction[] = [];
  now = 0;
  /** Sweeps so far, and the sweep that first found each account empty: two empty sweeps in a row forget it. */
  sweeps = 0;
  emptyAtSweep = new Map<string, number>();

  constructor(
    readonly maxSize: number,
    readonly perAccountMax: number,
  ) {}

  /** The whole cache's counters: they keep what forgotten accounts did. */
  global = emptyStats();

  /** Applies one count to the account's counters and the whole cache's. */
  private count(account: string, change: (stats: AccountCacheStats) => void): void {
    change(this.statsOf(account));
    change(this.global);
  }

  private statsOf(account: string): AccountCacheStats {
    let stats = this.stats.get(account);
    if (stats === undefined) {
      stats = emptyStats();
      this.stats.set(account, stats);
    }
    return stats;
  }

  private indexOf(account: string, key: string): number {
    return this.entries.findIndex((e) => e.account === account && e.key === key);
  }

  private evictAt(index: number, reason: EvictionReason): void {
    const [entry] = this.entries.splice(index, 1);
    if (entry === undefined) throw new Error('model: no entry to evict');
    const why = entry.expiresAt <= this.now ? 'expired' : reason;
    this.count(entry.account, (stats) => stats.evictions[why]++);
    this.evictions.push([entry.account, entry.key, why]);
  }

  accountSize(account: string): number {
    return this.entries.filter((e) => e.account === account).length;
  }

  live(account: string, key: string): ModelEntry | undefined {
    const entry = this.entries[this.indexOf(account, key)];
    return entry !== undefined && entry.expiresAt > this.now ? entry : undefined;
  }

  /** A cold write refreshes an entry in place, and adds a new one only into free room, as the oldest. */
  set(account: string, key: string, value: Value, ttlMs: number | undefined, cold: boolean): void {
    const ttl = ttlMs ?? DEFAULT_TTL_MS;
    const expiresAt = ttl === 0 ? Infinity : this.now + ttl;
    const index = this.indexOf(account, key);
    const full = this.entries.length >= this.maxSize || this.accountSize(account) >= this.perAccountMax;
    if (cold && index < 0 && full) return;
    this.count(account, (stats) => stats.sets++);
    if (cold && index >= 0) {
      this.entries[index] = { account, key, value, expiresAt };
      return;
    }
    if (index >= 0) this.entries.splice(index, 1);
    else if (!cold) {
      if (this.accountSize(account) >= this.perAccountMax)
        this.evictAt(
          this.entries.findIndex((e) => e.account === account),
          'accountCap',
        );
      if (this.entries.length >= this.maxSize) this.evictAt(0, 'capacity');
    }
    if (cold) this.entries.unshift({ account, key, value, expiresAt });
    else this.entries.push({ account, key, value, expiresAt });
  }

  get(account: string, key: string): Value | undefined {
    const index = this.indexOf(account, key);
    const entry = this.entries[index];
    if (entry === undefined || entry.expiresAt <= this.now) {
      if (entry !== undefined) this.evictAt(index, 'expired');
      this.count(account, (stats) => stats.misses++);
      return undefined;
    }
    this.entries.splice(index, 1);
    this.entries.push(entry);
    this.count(account, (stats) => stats.hits++);
    return entry.value;
  }

  delete(account: string, key: string): boolean {
    const index = this.indexOf(account, key);
    if (index < 0) return false;
    this.entries.splice(index, 1);
    this.count(account, (stats) => stats.invalidations++);
    return true;
  }

  invalidateAccount(account: string): number {
    const dropped = this.accountSize(account);
    this.entries = this.entries.filter((e) => e.account !== account);
    if (dropped > 0) this.count(account, (stats) => (stats.invalidations += dropped));
    return dropped;
  }

  removeExpired(): number {
    let removed = 0;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if ((this.entries[i]?.expiresAt ?? Infinity) <= this.now) {
        this.evictAt(i, 'expired');
        removed++;
      }
    }
    this.sweeps++;
    for (const account of [...this.stats.keys()]) {
      const marked = this.emptyAtSweep.get(account);
      if (this.accountSize(account) > 0) this.emptyAtSweep.delete(account);
      else if (marked === undefined) this.emptyAtSweep.set(account, this.sweeps);
      else if (marked < this.sweeps) {
        this.stats.delete(account);
        this.emptyAtSweep.delete(account);
      }
    }
    return removed;
  }

  /** Walks the account's entries from its most recent, dropping expired ones, until a live one. */
  isWarm(account: string): boolean {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i] as ModelEntry;
      if (entry.account !== account) continue;
      if (entry.expiresAt > this.now) return true;
      this.evictAt(i, 'expired');
    }
    return false;
  }

  clear(): void {
    this.entries = [];
    this.stats.clear();
    this.emptyAtSweep.clear();
    this.global = emptyStats();
  }

  /** What the cache should charge for an entry: its key, its value and the fixed bookkeeping. */
  private bytesOf(entries: readonly ModelEntry[]): number {
    return entries.reduce((sum, e) => sum + stringBytes(e.key) + heapBytesOf(e.value) + ENTRY_OVERHEAD_BYTES, 0);
  }

  accountStats(account: string): AccountCacheStats {
    return { ...(this.stats.get(account) ?? emptyStats()), size: this.accountSize(account), bytes: this.bytesOf(this.entries.filter((e) => e.account === account)) };
  }

  totals(): Totals {
    const { size: _size, ...counters } = this.global;
    return { ...counters, evictions: { ...counters.evictions }, bytes: this.bytesOf(this.entries) };
  }
}

/** Applies one operation to both and checks that whatever the operation returns agrees. */
function step(cache: TelegramCache<Value>, model: Model, operation: Op, version: number): void {
  switch (operation.kind) {
    case 'set': {
      const value = { account: operation.account, key: operation.key, version };
      cache.set(operation.account, operation.key, value, operation.ttlMs, operation.cold ? 'cold' : 'hot');
      model.set(operation.account, operation.key, value, operation.ttlMs, operation.cold);
      return;
    }
    case 'get': {
      const got = cache.get(operation.account, operation.key);
      if (got !== undefined && got.account !== operation.account) expect(got.account, 'a value read across accounts').toBe(operation.account);
      const wanted = model.get(operation.account, operation.key);
      if (!isDeepStrictEqual(got, wanted)) expect(got).toEqual(wanted);
      return;
    }
    case 'has':
      expect(cache.has(operation.account, operation.key)).toBe(model.live(operation.account, operation.key) !== undefined);
      return;
    case 'delete':
      expect(cache.delete(operation.account, operation.key)).toBe(model.delete(operation.account, operation.key));
      return;
    case 'invalidateAccount':
      expect(cache.invalidateAccount(operation.account)).toBe(model.invalidateAccount(operation.account));
      return;
    case 'isWarm':
      expect(cache.isWarm(operation.account)).toBe(model.isWarm(operation.account));
      return;
    case 'advance':
      model.now += operation.ms;
      return;
    case 'removeExpired':
      // Sweep order is not part of the contract, so evictions are compared regardless of order.
      expect(cache.removeExpired()).toBe(model.removeExpired());
      return;
    case 'clear':
      cache.clear();
      model.clear();
      return;
  }
}

const sorted = (evictions: Eviction[]) => evictions.map((e) => e.join('|')).sort();

type Totals = Omit<AccountCacheStats, 'size'>;

/** Everything observable without changing the cache, gathered into one value so a step costs one comparison. */
function observe(cache: TelegramCache<Value>) {
  const stats = cache.stats();
  const { hits, misses, sets, invalidations, evictions, bytes } = stats;
  return {
    size: cache.size,
    statsSize: stats.size,
    totals: { hits, misses, sets, invalidations, evictions, bytes },
    accounts: ACCOUNTS.map((a) => ({
      size: cache.accountSize(a),
      statsSize: stats.accounts[a]?.size ?? 0,
      stats: cache.accountStats(a),
      live: KEYS.filter((k) => cache.has(a, k)),
    })),
  };
}

function predict(model: Model): ReturnType<typeof observe> {
  const accountStats = ACCOUNTS.map((a) => model.accountStats(a));
  return {
    size: model.entries.length,
    statsSize: model.entries.length,
    totals: model.totals(),
    accounts: ACCOUNTS.map((a, i) => {
      const live = KEYS.filter((k) => model.live(a, k) !== undefined);
      const stats = accountStats[i] ?? emptyStats();
      return { size: stats.size, statsSize: stats.size, stats, live };
    }),
  };
}

/**
 * Tens of thousands of steps are checked per run, so each check is a plain comparison first and
 * goes through `expect` (for its report of what differs) only when it fails: a strict deep
 * equality that holds implies `toEqual` would hold, so nothing is checked less.
 */
function checkState(cache: TelegramCache<Value>, model: Model): void {
  const observed = observe(cache);
  if (observed.size > model.maxSize) expect(observed.size).toBeLessThanOrEqual(model.maxSize);
  for (const { size } of observed.accounts) if (size > model.perAccountMax) expect(size).toBeLessThanOrEqual(model.perAccountMax);
  const predicted = predict(model);
  if (!isDeepStrictEqual(observed, predicted)) expect(observed).toEqual(predicted);
}

describe('TelegramCache against a reference model', () => {
  test('random operation sequences over many accounts keep isolation, LRU order, caps, expiry and counts exact', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 150, size: 'max' }), (maxSize, perAccountMax, ops) => {
        const model = new Model(maxSize, perAccountMax);
        const evictions: Eviction[] = [];
        const cache = new TelegramCache<Value>({
          maxSize,
          perAccountMaxEntries: perAccountMax,
          defaultTtlMs: DEFAULT_TTL_MS,
          clock: () => model.now,
          onEvict: (a, k, reason) => evictions.push([a, k, reason]),
        });
        ops.forEach((operation, version) => {
          step(cache, model, operation, version);
          const evicted = sorted(evictions.splice(0));
          const modelled = sorted(model.evictions.splice(0));
          if (!isDeepStrictEqual(evicted, modelled)) expect(evicted).toEqual(modelled);
          checkState(cache, model);
        });
      }),
      { numRuns: 200 },
    );
  });
});
