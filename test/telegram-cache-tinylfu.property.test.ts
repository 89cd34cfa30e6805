import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { heapBytesOf, stringBytes } from '../src/cache/heap-size.js';
import { ENTRY_OVERHEAD_BYTES, TelegramCache, type EvictionReason } from '../src/cache/telegram-cache.js';

/*
 * W-TinyLFU chooses its victims by estimated frequency, which no model short of a second
 * implementation predicts. So the model here lets the cache choose, and checks that every choice
 * was allowed: a capacity eviction only while the cache is over a bound, an account-cap eviction
 * only of the writing account's own entry when it is at its cap, an expiry only of an expired
 * entry, and nothing else leaving. Everything besides the choice must agree exactly: what each
 * read returns (never another account's value), sizes, bytes, every counter and the bounds.
 */

const ACCOUNTS = ['+10000000001', '+10000000002', '+10000000003', '+10000000004'] as const;
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'] as const;
const DEFAULT_TTL_MS = 40;
const TICK_MS = 5;

type Op =
  | { kind: 'set'; account: string; key: string; ttlMs: number | undefined; cold: boolean; padding: number }
  | { kind: 'get'; account: string; key: string }
  | { kind: 'delete'; account: string; key: string }
  | { kind: 'invalidateAccount'; account: string }
  | { kind: 'isWarm'; account: string }
  | { kind: 'advance'; ms: number }
  | { kind: 'removeExpired' };

const account = fc.constantFrom(...ACCOUNTS);
/** Hot keys are read far more often than the rest, so admission by frequency has something to learn. */
const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('k0', 'k1') }, { weight: 2, arbitrary: fc.constantFrom(...KEYS) });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      account,
      key,
      ttlMs: fc.option(
        fc.oneof(
          fc.constant(0),
          fc.integer({ min: 1, max: 12 }).map((n) => n * TICK_MS),
        ),
        { nil: undefined },
      ),
      cold: fc.boolean(),
      padding: fc.integer({ min: 0, max: 40 }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('get' as const), account, key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), account, key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidateAccount' as const), account }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('isWarm' as const), account }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 8 }).map((n) => n * TICK_MS) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'removeExpired' as const }) },
);

interface Value {
  account: string;
  key: string;
  version: number;
  padding: string;
}

interface Entry {
  value: Value;
  expiresAt: number;
  bytes: number;
}

interface Counters {
  hits: number;
  misses: number;
  sets: number;
  invalidations: number;
  evictions: Record<EvictionReason, number>;
}

const zero = (): Counters => ({ hits: 0, misses: 0, sets: 0, invalidations: 0, evictions: { capacity: 0, accountCap: 0, expired: 0 } });
const id = (a: string, k: string): string => `${a}|${k}`;

class LegalityModel {
  readonly entries = new Map<string, Entry>();
  readonly counters = zero();
  now = 0;
  /** What the current operation allows to leave, and why. */
  private allowed: { capacity: boolean; accountCapOf: string | null } = { capacity: false, accountCapOf: null };

  constructor(
    readonly maxSize: number | null,
    readonly maxBytes: number | null,
    readonly perAccountMax: number,
  ) {}

  accountSize(a: string): number {
    let n = 0;
    for (const name of this.entries.keys()) if (name.startsWith(`${a}|`)) n++;
    return n;
  }

  bytes(a?: string): number {
    let total = 0;
    for (const [name, entry] of this.entries) if (a === undefined || name.startsWith(`${a}|`)) total += entry.bytes;
    return total;
  }

  /** Called from the cache's onEvict: the eviction must be one the operation allows. */
  evicted(a: string, k: string, reason: EvictionReason): void {
    const entry = this.entries.get(id(a, k));
    expect(entry, `evicted ${id(a, k)}, which the cache should not hold`).toBeDefined();
    if (entry === undefined) return;
    const expired = entry.expiresAt <= this.now;
    if (reason === 'expired') expect(expired, 'an expiry of a live entry').toBe(true);
    else {
      expect(expired, 'an expired entry evicted for another reason').toBe(false);
      if (reason === 'capacity') expect(this.allowed.capacity && this.overBound(), 'a capacity eviction when no write needed room').toBe(true);
      if (reason === 'accountCap') expect(this.allowed.accountCapOf, 'an account-cap eviction of another account').toBe(a);
    }
    this.entries.delete(id(a, k));
    this.counters.evictions[reason]++;
  }

  /**
   * Applies a write before the cache sees it, so that the evictions it causes (the new entry
   * itself among them) are checked against the state with it. Returns whether it should be stored:
   * a cold write exactly when it fits without evicting anything, a hot one always.
   */
  write(a: string, k: string, value: Value, ttlMs: number | undefined, cold: boolean): boolean {
    const ttl = ttlMs ?? DEFAULT_TTL_MS;
    const bytes = stringBytes(k) + heapBytesOf(value) + ENTRY_OVERHEAD_BYTES;
    const existing = this.entries.get(id(a, k));
    const roomy = (this.maxSize === null || this.entries.size < this.maxSize) && (this.maxBytes === null || this.bytes() + bytes <= this.maxBytes) && this.accountSize(a) < this.perAccountMax;
    const grows = this.maxBytes !== null && existing !== undefined && this.bytes() - existing.bytes + bytes > this.maxBytes;
    if (cold && (existing === undefined ? !roomy : grows)) return false;
    this.counters.sets++;
    this.entries.set(id(a, k), { value, expiresAt: ttl === 0 ? Infinity : this.now + ttl, bytes });
    return true;
  }

  private overBound(): boolean {
    return (this.maxSize !== null && this.entries.size > this.maxSize) || (this.maxBytes !== null && this.bytes() > this.maxBytes);
  }

  /** Sets what the next operation may evict. */
  allow(capacity: boolean, accountCapOf: string | null): void {
    this.allowed = { capacity, accountCapOf };
  }

  live(a: string, k: string): Value | undefined {
    const entry = this.entries.get(id(a, k));
    return entry !== undefined && entry.expiresAt > this.now ? entry.value : undefined;
  }
}

function run(maxSize: number | null, maxBytes: number | null, perAccountMax: number, ops: Op[]): void {
  const model = new LegalityModel(maxSize, maxBytes, perAccountMax);
  const cache = new TelegramCache<Value>({
    maxSize,
    maxBytes,
    policy: 'tinylfu',
    perAccountMaxEntries: perAccountMax,
    defaultTtlMs: DEFAULT_TTL_MS,
    clock: () => model.now,
    onEvict: (a, k, reason) => model.evicted(a, k, reason),
  });
  ops.forEach((operation, version) => {
    model.allow(false, null);
    switch (operation.kind) {
      case 'set': {
        const value = { account: operation.account, key: operation.key, version, padding: 'x'.repeat(operation.padding) };
        const isNew = model.entries.get(id(operation.account, operation.key)) === undefined;
        const atCap = isNew && model.accountSize(operation.account) >= perAccountMax;
        model.allow(!operation.cold, !operation.cold && atCap ? operation.account : null);
        const expected = model.write(operation.account, operation.key, value, operation.ttlMs, operation.cold);
        expect(cache.set(operation.account, operation.key, value, operation.ttlMs, operation.cold ? 'cold' : 'hot')).toBe(expected);
        break;
      }
      case 'get': {
        const expected = model.live(operation.account, operation.key);
        const got = cache.get(operation.account, operation.key);
        if (got !== undefined) expect(got.account, 'a value read across accounts').toBe(operation.account);
        expect(got).toEqual(expected);
        if (expected === undefined) model.counters.misses++;
        else model.counters.hits++;
        break;
      }
      case 'delete': {
        const existed = model.entries.delete(id(operation.account, operation.key));
        expect(cache.delete(operation.account, operation.key)).toBe(existed);
        if (existed) model.counters.invalidations++;
        break;
      }
      case 'invalidateAccount': {
        const dropped = model.accountSize(operation.account);
        for (const name of [...model.entries.keys()]) if (name.startsWith(`${operation.account}|`)) model.entries.delete(name);
        expect(cache.invalidateAccount(operation.account)).toBe(dropped);
        model.counters.invalidations += dropped;
        break;
      }
      case 'isWarm': {
        const live = KEYS.some((k) => model.live(operation.account, k) !== undefined);
        expect(cache.isWarm(operation.account)).toBe(live);
        break;
      }
      case 'advance':
        model.now += operation.ms;
        break;
      case 'removeExpired':
        cache.removeExpired();
        for (const [name, entry] of [...model.entries]) expect(entry.expiresAt > model.now, `${name} survived a sweep expired`).toBe(true);
        break;
    }
    // One comparison a step: what the cache reports against what the model expects.
    const stats = cache.stats();
    const observed = {
      counters: { hits: stats.hits, misses: stats.misses, sets: stats.sets, invalidations: stats.invalidations, evictions: stats.evictions },
      size: cache.size,
      bytes: cache.bytes,
      accounts: ACCOUNTS.map((a) => ({ size: cache.accountSize(a), bytes: cache.accountStats(a).bytes, live: KEYS.filter((k) => cache.has(a, k)) })),
    };
    const expected = {
      counters: model.counters,
      size: model.entries.size,
      bytes: model.bytes(),
      accounts: ACCOUNTS.map((a) => ({ size: model.accountSize(a), bytes: model.bytes(a), live: KEYS.filter((k) => model.live(a, k) !== undefined) })),
    };
    expect(observed).toEqual(expected);
    const withinBounds = (maxSize === null || cache.size <= maxSize) && (maxBytes === null || cache.bytes <= maxBytes) && observed.accounts.every((a) => a.size <= perAccountMax);
    expect(withinBounds, 'a bound was exceeded').toBe(true);
  });
}

describe('TelegramCache with the W-TinyLFU policy against a legality model', () => {
  test('random operation sequences keep isolation, bounds in entries and bytes, caps, expiry and counts exact, evicting only when allowed', () => {
    const bound = fc.oneof(
      fc.record({ maxSize: fc.integer({ min: 1, max: 10 }), maxBytes: fc.constant(null) }),
      fc.record({ maxSize: fc.constant(null), maxBytes: fc.integer({ min: 300, max: 2500 }) }),
      fc.record({ maxSize: fc.integer({ min: 1, max: 10 }), maxBytes: fc.integer({ min: 300, max: 2500 }) }),
    );
    fc.assert(
      fc.property(bound, fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 150, size: 'max' }), ({ maxSize, maxBytes }, perAccountMax, ops) => {
        run(maxSize, maxBytes, perAccountMax, ops);
      }),
      { numRuns: 150 },
    );
  });
});
