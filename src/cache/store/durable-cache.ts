import type { CacheLogger } from '../../telemetry/logger.js';
import { TelegramCache, type TelegramCacheOptions } from '../telegram-cache.js';
import type { CacheStore, StoreBounds, StoredEntry } from './cache-store.js';
import { decodeEntry, type DecodedEntry } from './entry-codec.js';
import { WriteBehind, type WriteBehindStats } from './write-behind.js';

export interface DurableCacheOptions extends TelegramCacheOptions {
  /** The store being opened; null when it could not be (the cache then runs from memory alone). */
  store: Promise<CacheStore | null>;
  writeIntervalMs: number;
  maxQueue: number;
  bounds: StoreBounds;
  /** Between background sweeps of the store, in ms. */
  storeCleanupIntervalMs: number;
  /**
   * Real milliseconds per millisecond of the cache's clock (1 live; the simulator's time scale
   * when simulated), so stored times are wall-clock times that mean the same after a restart.
   */
  timeScale?: number;
  /** A value that says a name leads nowhere: written through at once, so the peer it replaced cannot come back after a restart. */
  isNegative?: (value: unknown) => boolean;
}

export interface DurableCacheStats extends WriteBehindStats {
  /** Keys a miss in memory found in the store, and keys it did not. */
  storeHits: number;
  storeMisses: number;
  /** Entries loaded at start. */
  warmLoaded: number;
  failedReads: number;
}

/** After a read the store failed, reads are tried again after this long, doubling up to the cap. */
const READ_RETRY_MS = 500;
const MAX_READ_RETRY_MS = 30_000;
/** Most entries one account's warm start reads when neither an entry bound nor a per-account cap says otherwise. */
const WARM_LIMIT = 5000;
/**
 * Most keys, over all accounts, the cache remembers as possibly stored (see `known`): some 60
 * bytes each. An account whose key would pass the bound reads every miss from the store again.
 */
const MAX_KNOWN_KEYS = 1_000_000;
const NOTHING: ReadonlySet<string> = new Set();

interface ReadBatch {
  keys: Set<string>;
  done: Promise<void>;
  resolve: () => void;
}

/**
 * The process cache with a durable tier under it. Memory answers as before; a miss is looked up
 * in the store (the misses of one turn, per account, in one request) and what is found is
 * promoted. What memory takes is written behind in batches; invalidations and negative entries
 * go at once. At start each account gets its most recently used entries back, up to its share of
 * the memory budget. A store that fails never fails a task: reads then miss and writes wait.
 */
export class DurableTelegramCache<V = unknown> extends TelegramCache<V> {
  /** Settles when the store is open and the warm start is done (or the store could not be opened). */
  readonly ready: Promise<void>;
  private tier: CacheStore | null = null;
  private started = false;
  private readonly writeBehind: WriteBehind;
  private readonly reads = new Map<string, ReadBatch>();
  private readsScheduled = false;
  private readRetryAt = 0;
  private readFailures = 0;
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly counts = { storeHits: 0, storeMisses: 0, warmLoaded: 0, failedReads: 0 };
  private readonly timeScale: number;
  private readonly isNegative: (value: unknown) => boolean;
  private readonly storeLogger: CacheLogger | undefined;
  /**
   * For a store no other process writes (SQLite), the keys the store may hold per account: what
   * the warm start saw and what this process wrote since. A miss of a key outside it is a miss of
   * the store too, and costs no read: in a cold run, every miss would otherwise ask the store for
   * nothing. Accounts in `partial` (the store held more than the warm start read, or the bound was
   * reached) read every miss; so does every account of a shared store, which `known` is null for.
   */
  private known: Map<string, Set<string>> | null = null;
  private knownCount = 0;
  /** Whether the warm start is done, so `known` holds what the store held at start too. */
  private knownComplete = false;
  private readonly partial = new Set<string>();

  constructor(private readonly durable: DurableCacheOptions) {
    super(durable);
    this.timeScale = durable.timeScale ?? 1;
    this.isNegative = durable.isNegative ?? (() => false);
    this.storeLogger = durable.logger;
    this.writeBehind = new WriteBehind({ intervalMs: durable.writeIntervalMs, maxQueue: durable.maxQueue, ...(durable.logger && { logger: durable.logger }) });
    this.ready = this.start();
  }

  /** What the tier did so far. */
  storeStats(): DurableCacheStats {
    return { ...this.writeBehind.stats, ...this.counts };
  }

  override get(account: string, key: string): V | undefined {
    const value = super.get(account, key);
    if (value !== undefined) this.writeBehind.touch(account, key);
    return value;
  }

  override lookupUncounted(account: string, key: string): V | undefined {
    const value = super.lookupUncounted(account, key);
    if (value !== undefined) this.writeBehind.touch(account, key);
    return value;
  }

  override set(account: string, key: string, value: V, ttlMs?: number, temperature: 'hot' | 'cold' = 'hot'): boolean {
    const stored = super.set(account, key, value, ttlMs, temperature);
    if (stored) this.remember(account, key);
    if (stored) this.writeBehind.queue({ account, key, value, alias: false, expiresAt: this.storedExpiry(ttlMs), usedAt: Date.now() }, this.isNegative(value));
    return stored;
  }

  override setAlias(account: string, key: string, target: string, ttlMs?: number, temperature: 'hot' | 'cold' = 'hot'): boolean {
    const stored = super.setAlias(account, key, target, ttlMs, temperature);
    if (stored) this.remember(account, key);
    if (stored) this.writeBehind.queue({ account, key, value: target, alias: true, expiresAt: this.storedExpiry(ttlMs), usedAt: Date.now() });
    return stored;
  }

  /**
   * The store may hold the key even when memory no longer does: it is deleted there either way,
   * and its next miss costs no read (until the delete is through, a read would not promote it).
   */
  override delete(account: string, key: string): boolean {
    const existed = super.delete(account, key);
    this.writeBehind.delete(account, [key]);
    if (this.known?.get(account)?.delete(key) === true) this.knownCount--;
    return existed;
  }

  override invalidateAccount(account: string): number {
    const dropped = super.invalidateAccount(account);
    this.writeBehind.deleteAccount(account);
    // Once the delete is through, the store holds nothing of the account.
    this.forget(account);
    this.partial.delete(account);
    return dropped;
  }

  /**
   * Looks the keys memory lacks up in the store and promotes what it finds. Returns undefined
   * when there is nothing to wait for (memory has them all, or there is no store); the promise
   * never rejects, since a store that fails only means a miss.
   */
  readThrough(account: string, keys: readonly string[]): Promise<void> | undefined {
    if (this.started && this.tier === null) return undefined;
    const known = this.known !== null && this.knownComplete && !this.partial.has(account) ? (this.known.get(account) ?? NOTHING) : undefined;
    let missing: string[] | undefined;
    for (const key of keys) {
      if (this.has(account, key) || (known !== undefined && !known.has(key))) continue;
      (missing ??= []).push(key);
    }
    if (missing === undefined) return undefined;
    if (!this.started) return this.ready.then(() => this.readThrough(account, missing));
    if (Date.now() < this.readRetryAt) return undefined;
    let batch = this.reads.get(account);
    if (batch === undefined) {
      let resolve!: () => void;
      const done = new Promise<void>((settle) => {
        resolve = settle;
      });
      batch = { keys: new Set(), done, resolve };
      this.reads.set(account, batch);
    }
    for (const key of missing) batch.keys.add(key);
    if (!this.readsScheduled) {
      this.readsScheduled = true;
      queueMicrotask(() => this.readBatches());
    }
    return batch.done;
  }

  /** Writes what is queued, stops the sweeps and closes the store. Entries in memory stay until `clear`. */
  async close(): Promise<void> {
    this.shutdown();
    await this.ready;
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    await this.writeBehind.close();
    const store = this.tier;
    this.tier = null;
    await store?.close();
  }

  private async start(): Promise<void> {
    const store = await this.durable.store;
    this.started = true;
    if (store === null) return;
    this.tier = store;
    if (store.driver === 'sqlite') this.known = new Map();
    try {
      await this.warmStart(store);
      this.knownComplete = true;
    } catch (error) {
      // What the store holds is unknown: every miss asks it.
      this.known = null;
      this.storeLogger?.warn({ driver: store.driver, error: (error as Error).message }, 'the cache store could not be read at start: the cache starts cold');
    }
    this.writeBehind.attach(store);
    const sweep = (): void => {
      store.prune(Date.now(), this.durable.bounds).then(
        (removed) => {
          if (removed > 0) this.storeLogger?.debug({ driver: store.driver, removed }, 'removed old entries from the cache store');
        },
        (error: unknown) => this.storeLogger?.warn({ driver: store.driver, error: (error as Error).message }, 'the cache store could not be swept; it is tried again at the next interval'),
      );
    };
    this.pruneTimer = setInterval(sweep, this.durable.storeCleanupIntervalMs);
    this.pruneTimer.unref();
  }

  /** Each account's most recently used entries, up to its share of the budget, as the least recently used of memory: a task's own reads still come first. */
  private async warmStart(store: CacheStore): Promise<void> {
    const now = Date.now();
    const accounts = await store.accounts(now);
    if (accounts.length === 0) return;
    const shareBytes = this.maxBytes === null ? Infinity : this.maxBytes / accounts.length;
    const shareEntries = Math.min(this.perAccountMaxEntries ?? Infinity, this.maxSize === null ? Infinity : Math.floor(this.maxSize / accounts.length));
    const limit = Number.isFinite(shareEntries) ? shareEntries : WARM_LIMIT;
    if (limit < 1) return;
    for (const account of accounts) {
      const entries = await store.recent(account, limit, now);
      if (entries.length >= limit) this.partial.add(account);
      else for (const entry of entries) this.remember(account, entry.key);
      this.counts.warmLoaded += this.promote(account, entries, shareBytes, 'cold');
    }
    this.storeLogger?.info({ driver: store.driver, accounts: accounts.length, entries: this.counts.warmLoaded }, 'cache store loaded for a warm start');
  }

  private readBatches(): void {
    this.readsScheduled = false;
    const batches = [...this.reads];
    this.reads.clear();
    for (const [account, batch] of batches) void this.readBatch(account, batch);
  }

  private async readBatch(account: string, batch: ReadBatch): Promise<void> {
    const store = this.tier;
    try {
      if (store === null) return;
      const now = Date.now();
      const wanted = [...batch.keys].filter((key) => !this.promotePending(account, key));
      if (wanted.length === 0) return;
      const found = await store.getMany(account, wanted, now);
      const targets = new Set<string>();
      const have = new Set(found.map((entry) => entry.key));
      for (const entry of found) {
        const decoded = this.decoded(entry);
        if (decoded?.alias === true && !have.has(decoded.target) && !this.has(account, decoded.target)) targets.add(decoded.target);
      }
      const linked = targets.size === 0 ? [] : await store.getMany(account, [...targets], now);
      this.promote(account, [...linked, ...found], Infinity, 'hot');
      const hits = wanted.filter((key) => this.has(account, key)).length;
      this.counts.storeHits += hits;
      this.counts.storeMisses += wanted.length - hits;
      if (this.readFailures > 0) this.storeLogger?.info({ driver: store.driver, failedReads: this.readFailures }, 'the cache store answers reads again');
      this.readFailures = 0;
    } catch (error) {
      this.counts.failedReads++;
      this.readFailures++;
      this.readRetryAt = Date.now() + Math.min(MAX_READ_RETRY_MS, READ_RETRY_MS * 2 ** (this.readFailures - 1));
      if (this.readFailures === 1)
        this.storeLogger?.warn({ driver: store?.driver, error: (error as Error).message }, 'the cache store failed a read: lookups go on from memory and reads are tried again with growing waits');
    } finally {
      batch.resolve();
    }
  }

  /** That the store may hold the key from now on. */
  private remember(account: string, key: string): void {
    if (this.known === null || this.partial.has(account)) return;
    let keys = this.known.get(account);
    if (keys === undefined) {
      keys = new Set();
      this.known.set(account, keys);
    }
    if (keys.has(key)) return;
    if (this.knownCount >= MAX_KNOWN_KEYS) {
      this.forget(account);
      this.partial.add(account);
      return;
    }
    keys.add(key);
    this.knownCount++;
  }

  private forget(account: string): void {
    const keys = this.known?.get(account);
    if (keys === undefined) return;
    this.knownCount -= keys.size;
    this.known?.delete(account);
  }

  /** A write still waiting for its batch answers a miss too (memory may have evicted it meanwhile). */
  private promotePending(account: string, key: string): boolean {
    const write = this.writeBehind.pending(account, key);
    if (write === undefined) return false;
    const ttl = this.clockTtl(write.expiresAt);
    if (ttl === undefined) return false;
    if (write.alias) super.setAlias(account, key, write.value as string, ttl);
    else super.set(account, key, write.value as V, ttl);
    return this.has(account, key);
  }

  /**
   * Puts stored entries into memory, values before the aliases that point at them, skipping keys
   * memory already has (a task's fresher write wins) and keys deleted since; `cold` ones only into
   * free room. Stops once the account holds `shareBytes`. Returns how many were stored.
   */
  private promote(account: string, entries: readonly StoredEntry[], shareBytes: number, temperature: 'hot' | 'cold'): number {
    const decoded = entries.map((entry) => [entry, this.decoded(entry)] as const);
    let stored = 0;
    for (const aliases of [false, true]) {
      for (const [entry, value] of decoded) {
        if (value === undefined || value.alias !== aliases) continue;
        if (this.accountStats(account).bytes >= shareBytes) return stored;
        if (this.has(account, entry.key) || this.writeBehind.isDeleted(account, entry.key)) continue;
        const ttl = this.clockTtl(entry.expiresAt);
        if (ttl === undefined) continue;
        const ok = value.alias ? super.setAlias(account, entry.key, value.target, ttl, temperature) : super.set(account, entry.key, value.value as V, ttl, temperature);
        if (ok) stored++;
        else if (temperature === 'cold' && !value.alias) return stored;
      }
    }
    return stored;
  }

  private decoded(entry: StoredEntry): DecodedEntry | undefined {
    try {
      return decodeEntry(entry.data);
    } catch (error) {
      this.storeLogger?.warn({ key: entry.key, error: (error as Error).message }, 'a cache store entry could not be read and is skipped');
      return undefined;
    }
  }

  /** The wall-clock expiry of a write with this time to live (on the cache's clock). */
  private storedExpiry(ttlMs: number | undefined): number | null {
    const ttl = ttlMs ?? this.defaultTtlMs;
    return ttl === 0 || ttl === Infinity ? null : Date.now() + ttl * this.timeScale;
  }

  /** A stored expiry as a time to live on the cache's clock; 0 keeps it forever, undefined means it has passed. */
  private clockTtl(expiresAt: number | null): number | undefined {
    if (expiresAt === null) return 0;
    const left = expiresAt - Date.now();
    return left > 0 ? Math.max(1, left / this.timeScale) : undefined;
  }
}

/** The hook where a lookup misses: the durable tier's read of the missing keys, or undefined when the cache has no tier or nothing is missing. */
export function readThrough(cache: TelegramCache, account: string, keys: readonly string[]): Promise<void> | undefined {
  return cache instanceof DurableTelegramCache ? cache.readThrough(account, keys) : undefined;
}
