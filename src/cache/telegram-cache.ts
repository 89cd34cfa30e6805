import type { CacheLogger } from '../telemetry/logger.js';

/** Where a cache lives: one task (cleared when the task ends) or the whole process (shared by consecutive tasks). */
export const TelegramCacheScope = {
  TASK: 'task',
  PROCESS: 'process',
} as const;
export type TelegramCacheScope = (typeof TelegramCacheScope)[keyof typeof TelegramCacheScope];

/** Why an entry left the cache without being asked to. */
export type EvictionReason = 'capacity' | 'accountCap' | 'expired';

export interface EvictionCounts {
  capacity: number;
  accountCap: number;
  expired: number;
}

export interface CacheCounters {
  hits: number;
  misses: number;
  sets: number;
  invalidations: number;
  evictions: EvictionCounts;
}

export interface AccountCacheStats extends CacheCounters {
  size: number;
}

export interface TelegramCacheStats extends CacheCounters {
  scope: TelegramCacheScope;
  size: number;
  maxSize: number;
  perAccountMaxEntries: number | null;
  accounts: Record<string, AccountCacheStats>;
}

export type Clock = () => number;

export interface TelegramCacheOptions {
  scope?: TelegramCacheScope;
  /** The task this cache belongs to; null for a process or standalone cache. */
  taskId?: string | number | null;
  maxSize: number;
  /** Cap on one account's entries; when reached, that account's own least recently used entry goes. */
  perAccountMaxEntries?: number | null;
  /** Time to live of an entry set without one; 0 or Infinity keeps entries until evicted. */
  defaultTtlMs?: number;
  enableBackgroundCleanup?: boolean;
  cleanupIntervalMs?: number;
  clock?: Clock;
  logger?: CacheLogger;
  /** Told of every eviction, so telemetry can count them without polling. */
  onEvict?: (account: string, key: string, reason: EvictionReason) => void;
}

/**
 * One entry, linked into two recency lists at once: the cache-wide one (for `maxSize`) and its
 * account's (for the per-account cap), so either kind of eviction finds its victim in O(1).
 */
interface Node<V> {
  readonly account: AccountState<V>;
  readonly key: string;
  value: V;
  expiresAt: number;
  newer: Node<V> | null;
  older: Node<V> | null;
  accountNewer: Node<V> | null;
  accountOlder: Node<V> | null;
}

interface AccountState<V> {
  readonly name: string;
  readonly entries: Map<string, Node<V>>;
  newest: Node<V> | null;
  oldest: Node<V> | null;
  counters: CacheCounters;
}

function zeroCounters(): CacheCounters {
  return { hits: 0, misses: 0, sets: 0, invalidations: 0, evictions: { capacity: 0, accountCap: 0, expired: 0 } };
}

function copyCounters(counters: CacheCounters): CacheCounters {
  return { ...counters, evictions: { ...counters.evictions } };
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a whole number of at least 1, got ${String(value)}`);
  }
}

function checkTtl(name: string, value: number): void {
  if (!(value >= 0)) throw new RangeError(`${name} must be 0 (no expiry), a positive number of milliseconds or Infinity, got ${String(value)}`);
}

/**
 * An LRU entity cache whose entries belong to accounts. Telegram access hashes are valid only for
 * the account that obtained them, so every operation names the account and no operation can
 * return another account's entry; the per-account cap keeps one busy account from evicting the
 * rest of the fleet.
 */
export class TelegramCache<V = unknown> {
  readonly scope: TelegramCacheScope;
  readonly taskId: string | number | null;
  readonly maxSize: number;
  readonly perAccountMaxEntries: number | null;
  readonly defaultTtlMs: number;

  private readonly accounts = new Map<string, AccountState<V>>();
  private newest: Node<V> | null = null;
  private oldest: Node<V> | null = null;
  private count = 0;
  private counters = zeroCounters();
  private readonly clock: Clock;
  private readonly logger: CacheLogger | undefined;
  private readonly onEvict: TelegramCacheOptions['onEvict'];
  private cleanupTimer: NodeJS.Timeout | null = null;

  constructor(options: TelegramCacheOptions) {
    checkPositiveInteger('maxSize', options.maxSize);
    if (options.perAccountMaxEntries != null) checkPositiveInteger('perAccountMaxEntries', options.perAccountMaxEntries);
    checkTtl('defaultTtlMs', options.defaultTtlMs ?? 0);
    this.scope = options.scope ?? TelegramCacheScope.TASK;
    this.taskId = options.taskId ?? null;
    this.maxSize = options.maxSize;
    this.perAccountMaxEntries = options.perAccountMaxEntries ?? null;
    this.defaultTtlMs = options.defaultTtlMs ?? 0;
    this.clock = options.clock ?? Date.now;
    this.logger = options.logger;
    this.onEvict = options.onEvict;
    if (options.enableBackgroundCleanup) {
      if (this.scope !== TelegramCacheScope.PROCESS) {
        throw new Error('background cleanup runs only in process scope; a task cache is cleared when its task ends');
      }
      const intervalMs = options.cleanupIntervalMs ?? 60_000;
      if (!(intervalMs > 0)) throw new RangeError(`cleanupIntervalMs must be positive, got ${String(intervalMs)}`);
      this.cleanupTimer = setInterval(() => this.removeExpired(), intervalMs);
      // A sweep must never be the reason a finished bot stays alive.
      this.cleanupTimer.unref();
    }
  }

  /**
   * A disposable cache for scripts and debugging. It never touches the registry, so it cannot
   * change process-wide state or outlive the caller's interest in it.
   */
  static createIsolated<V = unknown>(maxSize: number, options: Omit<TelegramCacheOptions, 'maxSize' | 'scope' | 'taskId' | 'enableBackgroundCleanup'> = {}): TelegramCache<V> {
    return new TelegramCache<V>({ ...options, maxSize, scope: TelegramCacheScope.TASK, taskId: null });
  }

  get size(): number {
    return this.count;
  }

  accountSize(account: string): number {
    return this.accounts.get(account)?.entries.size ?? 0;
  }

  get(account: string, key: string): V | undefined {
    const state = this.accounts.get(account);
    const node = state?.entries.get(key);
    if (node === undefined) {
      this.countMiss(account, state);
      return undefined;
    }
    if (node.expiresAt <= this.clock()) {
      this.unlink(node);
      this.evicted(node, 'expired');
      this.countMiss(account, node.account);
      return undefined;
    }
    this.touch(node);
    this.counters.hits++;
    node.account.counters.hits++;
    return node.value;
  }

  /** Whether a live entry exists, without counting a hit or a miss or changing recency. */
  has(account: string, key: string): boolean {
    const node = this.accounts.get(account)?.entries.get(key);
    return node !== undefined && node.expiresAt > this.clock();
  }

  /**
   * Stores an entry as the account's most recently used. A `cold` write is for a value nobody
   * asked for (a peer seen in passing in a response): it refreshes an entry that exists without
   * making it recent, and a new one is stored only into free room, as the least recently used, so
   * speculation never evicts what tasks looked up. Returns whether the value was stored.
   */
  set(account: string, key: string, value: V, ttlMs?: number, temperature: 'hot' | 'cold' = 'hot'): boolean {
    const ttl = ttlMs ?? this.defaultTtlMs;
    checkTtl('ttlMs', ttl);
    const expiresAt = ttl === 0 ? Infinity : this.clock() + ttl;
    const state = this.accountState(account);
    const cold = temperature === 'cold';
    const existing = state.entries.get(key);
    if (existing === undefined && cold && (this.count >= this.maxSize || (this.perAccountMaxEntries !== null && state.entries.size >= this.perAccountMaxEntries))) return false;
    this.counters.sets++;
    state.counters.sets++;
    if (existing !== undefined) {
      existing.value = value;
      existing.expiresAt = expiresAt;
      if (!cold) this.touch(existing);
      return true;
    }
    if (cold) {
      this.insertOldest(state, key, value, expiresAt);
      return true;
    }
    if (this.perAccountMaxEntries !== null && state.entries.size >= this.perAccountMaxEntries && state.oldest !== null) {
      const victim = state.oldest;
      this.unlink(victim);
      this.evicted(victim, 'accountCap');
    }
    if (this.count >= this.maxSize && this.oldest !== null) {
      const victim = this.oldest;
      this.unlink(victim);
      this.evicted(victim, 'capacity');
    }
    this.insertNewest(state, key, value, expiresAt);
    return true;
  }

  /** Invalidates one entry (for example after Telegram rejected its access hash). */
  delete(account: string, key: string): boolean {
    const node = this.accounts.get(account)?.entries.get(key);
    if (node === undefined) return false;
    this.unlink(node);
    this.counters.invalidations++;
    node.account.counters.invalidations++;
    return true;
  }

  /** Drops every entry of one account, for example when its session was revoked. Returns how many went. */
  invalidateAccount(account: string): number {
    const state = this.accounts.get(account);
    if (state === undefined) return 0;
    const dropped = state.entries.size;
    for (let node = state.oldest; node !== null; node = node.accountNewer) this.unlinkGlobal(node);
    state.entries.clear();
    state.newest = null;
    state.oldest = null;
    this.count -= dropped;
    this.counters.invalidations += dropped;
    state.counters.invalidations += dropped;
    if (dropped > 0) this.logger?.debug({ scope: this.scope, account, dropped }, 'invalidated account entries');
    return dropped;
  }

  /** Forgets all entries and all statistics. */
  clear(): void {
    this.accounts.clear();
    this.newest = null;
    this.oldest = null;
    this.count = 0;
    this.counters = zeroCounters();
  }

  /** Whether the cache holds live entries (for one account, when named): a warm start saves Telegram calls. */
  isWarm(account?: string): boolean {
    const now = this.clock();
    const start = account === undefined ? this.newest : (this.accounts.get(account)?.newest ?? null);
    for (let node = start; node !== null; node = account === undefined ? node.older : node.accountOlder) {
      if (node.expiresAt > now) return true;
    }
    return false;
  }

  /** Sweeps out expired entries; the hot path only drops the ones it happens to read. Returns how many went. */
  removeExpired(): number {
    const now = this.clock();
    let removed = 0;
    for (let node = this.oldest; node !== null; ) {
      const next = node.newer;
      if (node.expiresAt <= now) {
        this.unlink(node);
        this.evicted(node, 'expired');
        removed++;
      }
      node = next;
    }
    if (removed > 0) this.logger?.debug({ scope: this.scope, removed, size: this.count }, 'removed expired entries');
    return removed;
  }

  stats(): TelegramCacheStats {
    const accounts: Record<string, AccountCacheStats> = {};
    for (const state of this.accounts.values()) {
      accounts[state.name] = { ...copyCounters(state.counters), size: state.entries.size };
    }
    return {
      ...copyCounters(this.counters),
      scope: this.scope,
      size: this.count,
      maxSize: this.maxSize,
      perAccountMaxEntries: this.perAccountMaxEntries,
      accounts,
    };
  }

  /** One account's counters; zero for an account the cache has never seen. */
  accountStats(account: string): AccountCacheStats {
    const state = this.accounts.get(account);
    return state === undefined
      ? { ...zeroCounters(), size: 0 }
      : { ...copyCounters(state.counters), size: state.entries.size };
  }

  /** Stops background cleanup. Entries stay; the registry clears them when it shuts down. */
  shutdown(): void {
    if (this.cleanupTimer !== null) {
      clearInterval(this.cleanupTimer);
      this.cleanupTimer = null;
    }
  }

  private accountState(account: string): AccountState<V> {
    let state = this.accounts.get(account);
    if (state === undefined) {
      state = { name: account, entries: new Map(), newest: null, oldest: null, counters: zeroCounters() };
      this.accounts.set(account, state);
    }
    return state;
  }

  private countMiss(account: string, state: AccountState<V> | undefined): void {
    this.counters.misses++;
    (state ?? this.accountState(account)).counters.misses++;
  }

  private evicted(node: Node<V>, reason: EvictionReason): void {
    // An entry pushed out after its time was up left because it expired, whatever pushed it.
    const why: EvictionReason = reason !== 'expired' && node.expiresAt <= this.clock() ? 'expired' : reason;
    this.counters.evictions[why]++;
    node.account.counters.evictions[why]++;
    this.onEvict?.(node.account.name, node.key, why);
  }

  private insertNewest(state: AccountState<V>, key: string, value: V, expiresAt: number): void {
    const node: Node<V> = { account: state, key, value, expiresAt, newer: null, older: this.newest, accountNewer: null, accountOlder: state.newest };
    if (this.newest !== null) this.newest.newer = node;
    else this.oldest = node;
    this.newest = node;
    if (state.newest !== null) state.newest.accountNewer = node;
    else state.oldest = node;
    state.newest = node;
    state.entries.set(key, node);
    this.count++;
  }

  private insertOldest(state: AccountState<V>, key: string, value: V, expiresAt: number): void {
    const node: Node<V> = { account: state, key, value, expiresAt, newer: this.oldest, older: null, accountNewer: state.oldest, accountOlder: null };
    if (this.oldest !== null) this.oldest.older = node;
    else this.newest = node;
    this.oldest = node;
    if (state.oldest !== null) state.oldest.accountOlder = node;
    else state.newest = node;
    state.oldest = node;
    state.entries.set(key, node);
    this.count++;
  }

  /** Moves a node to the newest end of both of its lists. */
  private touch(node: Node<V>): void {
    if (this.newest !== node) {
      this.unlinkGlobal(node);
      node.older = this.newest;
      node.newer = null;
      if (this.newest !== null) this.newest.newer = node;
      this.newest = node;
      if (this.oldest === null) this.oldest = node;
    }
    const state = node.account;
    if (state.newest !== node) {
      this.unlinkAccount(node);
      node.accountOlder = state.newest;
      node.accountNewer = null;
      if (state.newest !== null) state.newest.accountNewer = node;
      state.newest = node;
      if (state.oldest === null) state.oldest = node;
    }
  }

  private unlink(node: Node<V>): void {
    this.unlinkGlobal(node);
    this.unlinkAccount(node);
    node.account.entries.delete(node.key);
    this.count--;
  }

  private unlinkGlobal(node: Node<V>): void {
    if (node.newer !== null) node.newer.older = node.older;
    else this.newest = node.older;
    if (node.older !== null) node.older.newer = node.newer;
    else this.oldest = node.newer;
    node.newer = null;
    node.older = null;
  }

  private unlinkAccount(node: Node<V>): void {
    const state = node.account;
    if (node.accountNewer !== null) node.accountNewer.accountOlder = node.accountOlder;
    else state.newest = node.accountOlder;
    if (node.accountOlder !== null) node.accountOlder.accountNewer = node.accountNewer;
    else state.oldest = node.accountNewer;
    node.accountNewer = null;
    node.accountOlder = null;
  }
}
