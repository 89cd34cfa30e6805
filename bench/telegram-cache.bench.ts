import { LRUCache } from 'lru-cache';
import { do_not_optimize } from 'mitata';
import { TelegramCache } from '../src/cache/telegram-cache.js';
import { runPairs, type BenchCase, type BenchOptions, type BenchRun, type BenchTarget } from './harness.js';
import { isMain } from './bench-env.js';

/*
 * TelegramCache against lru-cache@11, configured alike: both bounded to CAPACITY entries, both
 * with the same TTL on every entry, neither refreshing the TTL on a read nor running a purge
 * timer. TelegramCache spreads its entries over several accounts with a per-account cap above
 * CAPACITY / ACCOUNTS, so the insert benchmark exercises the global capacity eviction that both
 * share. lru-cache gets its keys as precomputed "account + key" strings, which is how it would
 * have to be keyed to keep accounts apart; building those strings is not timed, in its favour.
 */

const CAPACITY = 8192;
const ACCOUNTS = 8;
const PER_ACCOUNT_CAP = 2048;
const TTL_MS = 3_600_000;

interface Entity {
  id: number;
  accessHash: string;
}

const VALUE: Entity = { id: 1, accessHash: '-4242424242424242' };

/**
 * Entries 0..CAPACITY-1 fill both caches; CAPACITY..2*CAPACITY-1 are the next ones inserted;
 * 2*CAPACITY..3*CAPACITY-1 are never inserted and make the misses.
 */
const accounts: string[] = [];
const keys: string[] = [];
const combined: string[] = [];
for (let n = 0; n < 3 * CAPACITY; n++) {
  const account = `+1555000${String(n % ACCOUNTS).padStart(4, '0')}`;
  const key = `user${n}`;
  accounts.push(account);
  keys.push(key);
  combined.push(`${account}\u0000${key}`);
}

/** A deterministic shuffle, so hits come in no order a cache could be lucky with, yet every run is alike. */
function shuffled(values: number[]): Uint32Array {
  const out = Uint32Array.from(values);
  let seed = 0x9e3779b9;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);
const HIT_ORDER = shuffled(range(0, CAPACITY));
const MISS_ORDER = shuffled(range(2 * CAPACITY, CAPACITY));
/** Inserting entries in this order, after the first CAPACITY, always adds a new key and so always evicts. */
const INSERT_ORDER = Uint32Array.from(range(0, 2 * CAPACITY), (i) => (i + CAPACITY) % (2 * CAPACITY));

/** Runs `op` on the entries of `order` in turn; order lengths are powers of two so wrapping is a mask. */
function cycling(order: Uint32Array, op: (n: number) => unknown): BenchTarget {
  const mask = order.length - 1;
  let i = 0;
  return {
    run: () => {
      const n = order[i]!;
      i = (i + 1) & mask;
      return op(n);
    },
  };
}

function filledTelegramCache(): TelegramCache<Entity> {
  const cache = new TelegramCache<Entity>({ maxSize: CAPACITY, perAccountMaxEntries: PER_ACCOUNT_CAP, defaultTtlMs: TTL_MS });
  for (let n = 0; n < CAPACITY; n++) cache.set(accounts[n]!, keys[n]!, VALUE);
  return cache;
}

function filledLruCache(): LRUCache<string, Entity> {
  const cache = new LRUCache<string, Entity>({ max: CAPACITY, ttl: TTL_MS });
  for (let n = 0; n < CAPACITY; n++) cache.set(combined[n]!, VALUE);
  return cache;
}

function telegramCase(order: Uint32Array, op: (cache: TelegramCache<Entity>, n: number) => unknown): BenchCase {
  return {
    label: 'TelegramCache',
    setup: () => {
      const cache = filledTelegramCache();
      return cycling(order, (n) => op(cache, n));
    },
  };
}

function lruCase(order: Uint32Array, op: (cache: LRUCache<string, Entity>, n: number) => unknown): BenchCase {
  return {
    label: 'lru-cache@11',
    setup: () => {
      const cache = filledLruCache();
      return cycling(order, (n) => op(cache, n));
    },
  };
}

export function runTelegramCacheBench(options: BenchOptions = {}): Promise<BenchRun> {
  return runPairs(
    {
      name: 'telegram-cache',
      notes: {
        capacity: CAPACITY,
        ttlMs: TTL_MS,
        telegramCacheAccounts: ACCOUNTS,
        telegramCachePerAccountMaxEntries: PER_ACCOUNT_CAP,
        lruCacheKeys: 'precomputed account+key strings',
        bothBounded: true,
        bothWithTtl: true,
      },
      pairs: [
        {
          name: 'get hit',
          subject: telegramCase(HIT_ORDER, (cache, n) => do_not_optimize(cache.get(accounts[n]!, keys[n]!))),
          peer: lruCase(HIT_ORDER, (cache, n) => do_not_optimize(cache.get(combined[n]!))),
        },
        {
          name: 'get miss',
          subject: telegramCase(MISS_ORDER, (cache, n) => do_not_optimize(cache.get(accounts[n]!, keys[n]!))),
          peer: lruCase(MISS_ORDER, (cache, n) => do_not_optimize(cache.get(combined[n]!))),
        },
        {
          name: 'set insert, evicting at capacity',
          subject: telegramCase(INSERT_ORDER, (cache, n) => cache.set(accounts[n]!, keys[n]!, VALUE)),
          peer: lruCase(INSERT_ORDER, (cache, n) => cache.set(combined[n]!, VALUE)),
        },
        {
          name: 'set overwrite',
          subject: telegramCase(HIT_ORDER, (cache, n) => cache.set(accounts[n]!, keys[n]!, VALUE)),
          peer: lruCase(HIT_ORDER, (cache, n) => cache.set(combined[n]!, VALUE)),
        },
      ],
    },
    options,
  );
}

if (isMain(import.meta.url)) await runTelegramCacheBench();
