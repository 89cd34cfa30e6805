import type { CacheLogger } from '../telemetry/logger.js';
import { coarseNow, isWallClock } from './coarse-clock.js';
import { accountHash, FrequencySketch, keyHash } from './frequency-sketch.js';
import { heapBytesOf, stringBytes } from './heap-size.js';

/** Where a cache lives: one task (cleared when the task ends) or the whole process (shared by consecutive tasks). */
export const TelegramCacheScope = {
  TASK: 'task',
  PROCESS: 'process',
} as const;
export type TelegramCacheScope = (typeof TelegramCacheScope)[keyof typeof TelegramCacheScope];

/**
 * How victims are chosen once the cache is full. `tinylfu` is W-TinyLFU: new entries wait in a
 * small recency window, and one joins the main cache only if it has been asked for more often
 * lately than the entry it would push out, so a loop over more keys than fit (a fleet's accounts
 * taking turns) keeps a stable, most-asked-for part of every account instead of losing all of it.
 * `lru` evicts the least recently used entry of the whole cache.
 */
export const CachePolicy = {
  TINYLFU: 'tinylfu',
  LRU: 'lru',
} as const;
export type CachePolicy = (typeof CachePolicy)[keyof typeof CachePolicy];

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
  /** What the account's entries cost, in bytes of heap, as the byte budget counts them. */
  bytes: number;
}

export interface TelegramCacheStats extends CacheCounters {
  scope: TelegramCacheScope;
  policy: CachePolicy;
  size: number;
  bytes: number;
  maxSize: number | null;
  maxBytes: number | null;
  perAccountMaxEntries: number | null;
  /** Accounts that hold entries, or held some since the last sweep. */
  accounts: Record<string, AccountCacheStats>;
}

export type Clock = () => number;

/** What one entry costs beyond its key and value: its slots in the cache's arrays and in its account's map. */
export const ENTRY_OVERHEAD_BYTES = 96;

export interface TelegramCacheOptions {
  scope?: TelegramCacheScope;
  /** The task this cache belongs to; null for a process or standalone cache. */
  taskId?: string | number | null;
  /** Most entries the cache holds; null for no entry bound (then `maxBytes` bounds it). */
  maxSize: number | null;
  /** Most bytes of heap the entries may cost (keys, values and bookkeeping); null or absent for no byte bound. */
  maxBytes?: number | null;
  /** Victim choice once full; `lru` unless given (the config ships `tinylfu`). */
  policy?: CachePolicy;
  /** Cap on one account's entries; when reached, one of that account's own entries goes (its least recently used under LRU, one not used lately under W-TinyLFU). */
  perAccountMaxEntries?: number | null;
  /** Time to live of an entry set without one; 0 or Infinity keeps entries until evicted. */
  defaultTtlMs?: number;
  /** Bytes of heap a value costs; an estimate from the value's shape unless given. */
  weigh?: (value: unknown) => number;
  enableBackgroundCleanup?: boolean;
  cleanupIntervalMs?: number;
  clock?: Clock;
  logger?: CacheLogger;
  /** Told of every eviction, so telemetry can count them without polling. */
  onEvict?: (account: string, key: string, reason: EvictionReason) => void;
}

/** A username-like entry that stands for another entry of the same account instead of holding a copy of its value. */
class Alias {
  constructor(readonly target: string) {}
}

const ALIAS_BYTES = 32;

/** Which list an entry is on: W-TinyLFU's window, probation and protected segments; LRU uses MAIN alone. */
const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;
const MAIN = PROBATION;
const NONE = -1;

/**
 * The recency window's share of the budget. Caffeine starts at 1% for frequency-heavy traces; a
 * fleet whose accounts run bursts of tasks reuses each account's peers within the burst, which a
 * 1% window forgets before the second task, leaving W-TinyLFU up to 4.5 points below LRU. At 20%
 * it is at most 0.1 points below LRU in every cell of the policy grid, and a point or two ahead on
 * the cache2k traces, at a cost of about a point where the accounts take strict turns.
 */
const WINDOW_SHARE = 0.2;
const PROTECTED_SHARE = 0.8;
/** A candidate this often asked for is let in now and then even when it loses, so an attacker cannot pin a victim with collisions. */
const WARM_CANDIDATE = 5;

interface AccountState {
  readonly name: string;
  readonly hash: number;
  /** Entries the account holds. */
  size: number;
  /** Ends of the account's own recency list (oldest first), for the per-account cap. */
  head: number;
  tail: number;
  bytes: number;
  counters: CacheCounters;
  /** The sweep that found the account empty; it is forgotten if the next sweep finds it empty too. */
  emptyAtSweep: number;
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

const INITIAL_SLOTS = 64;
/** Where each field of a slot lies in `meta`. */
const NEXT = 0;
const PREV = 1;
const ACCOUNT_NEXT = 2;
const ACCOUNT_PREV = 3;
const WEIGHT_LIST = 4;
const HASH = 5;
/** The expiry, a double, takes the last two numbers of the slot's eight. */
const EXPIRY = 3;
const STRIDE = 8;
/** Where a slot's key, value and owner lie in `refs`. */
const REFS = 3;
const VALUE = 1;
const OWNER = 2;
/** Heaviest entry the cache takes: its cost shares 32 bits with two bits of list and the used-again bit. */
const MAX_ENTRY_BYTES = 2 ** 28 - 1;
/** Bits of a slot's WEIGHT_LIST number below its cost. */
const LIST_BITS = 3;
/** Set when a W-TinyLFU entry is read or rewritten, cleared when its account's cap passes over it. */
const USED_AGAIN = 4;

/**
 * An entity cache whose entries belong to accounts. Telegram access hashes are valid only for the
 * account that obtained them, so every operation names the account and no operation can return
 * another account's entry: each account has its own key map, and an alias can only name a key in
 * its own account's map. The per-account cap keeps one busy account from evicting the rest of the
 * fleet; the policy decides, once the cache is full, whose entries are worth keeping.
 *
 * Entries live in parallel arrays indexed by slot (linked lists as index arrays, expiry and cost
 * as typed arrays), found through one open-addressing table of slots keyed by (account, key), so
 * an entry costs a few dozen bytes of bookkeeping and no object of its own, not even a map entry.
 */
export class TelegramCache<V = unknown> {
  readonly scope: TelegramCacheScope;
  readonly taskId: string | number | null;
  readonly maxSize: number | null;
  readonly maxBytes: number | null;
  readonly policy: CachePolicy;
  readonly perAccountMaxEntries: number | null;
  readonly defaultTtlMs: number;

  private readonly accounts = new Map<string, AccountState>();
  private counters = zeroCounters();
  private count = 0;
  private totalBytes = 0;
  private sweeps = 0;

  private capacity = 0;
  /**
   * Each slot's key, value and owning account, side by side (REFS a slot), so that finding and
   * reading an entry touches one cache line of them rather than one in each of three arrays.
   */
  private refs: unknown[] = [];
  /** Each slot's links, cost, hash and list, STRIDE numbers a slot, so that touching an entry touches one cache line of them. */
  private meta = new Int32Array(0);
  /** `meta`'s memory seen as doubles, for the expiry times. */
  private expiry = new Float64Array(0);
  private freeSlot = NONE;
  private used = 0;
  /** Slot + 1 of each entry at the position its hash leads to (linear probing; 0 is empty), a power of two long. */
  private table = new Int32Array(0);
  /** The hash `find` last computed, so a write that missed can insert without hashing the key again. */
  private foundHash = 0;

  private readonly listHead = [NONE, NONE, NONE];
  private readonly listTail = [NONE, NONE, NONE];
  private readonly listCount = [0, 0, 0];
  private readonly listBytes = [0, 0, 0];
  private readonly sketch: FrequencySketch | null;
  /** The segments' shares of the bounds, worked out once: every read that promotes an entry checks them. */
  private readonly windowMaxEntries: number;
  private readonly windowMaxBytes: number;
  private readonly protectedMaxEntries: number;
  private readonly protectedMaxBytes: number;
  private random = 0x2545f491;

  private readonly weigh: (value: unknown) => number;
  private readonly clock: Clock;
  private readonly logger: CacheLogger | undefined;
  private readonly onEvict: TelegramCacheOptions['onEvict'];
  private cleanupTimer: NodeJS.Timeout | null = null;

  constructor(options: TelegramCacheOptions) {
    if (options.maxSize !== null) checkPositiveInteger('maxSize', options.maxSize);
    if (options.maxBytes != null) checkPositiveInteger('maxBytes', options.maxBytes);
    if (options.maxSize === null && options.maxBytes == null) throw new RangeError('a cache needs maxSize, maxBytes or both; got neither');
    if (options.perAccountMaxEntries != null) checkPositiveInteger('perAccountMaxEntries', options.perAccountMaxEntries);
    const policy = options.policy ?? CachePolicy.LRU;
    if (policy !== CachePolicy.LRU && policy !== CachePolicy.TINYLFU) throw new RangeError(`policy must be "tinylfu" or "lru", got ${String(policy)}`);
    checkTtl('defaultTtlMs', options.defaultTtlMs ?? 0);
    this.scope = options.scope ?? TelegramCacheScope.TASK;
    this.taskId = options.taskId ?? null;
    this.maxSize = options.maxSize;
    this.maxBytes = options.maxBytes ?? null;
    this.policy = policy;
    this.perAccountMaxEntries = options.perAccountMaxEntries ?? null;
    this.defaultTtlMs = options.defaultTtlMs ?? 0;
    this.weigh = options.weigh ?? heapBytesOf;
    const clock = options.clock ?? Date.now;
    this.clock = isWallClock(clock) ? coarseNow : clock;
    this.logger = options.logger;
    this.onEvict = options.onEvict;
    this.sketch = policy === CachePolicy.TINYLFU ? new FrequencySketch(INITIAL_SLOTS) : null;
    this.windowMaxEntries = this.maxSize === null ? Infinity : Math.max(1, Math.floor(this.maxSize * WINDOW_SHARE));
    this.windowMaxBytes = this.maxBytes === null ? Infinity : this.maxBytes * WINDOW_SHARE;
    this.protectedMaxEntries = this.maxSize === null ? Infinity : Math.max(1, Math.floor(this.maxSize * (1 - WINDOW_SHARE) * PROTECTED_SHARE));
    this.protectedMaxBytes = this.maxBytes === null ? Infinity : this.maxBytes * (1 - WINDOW_SHARE) * PROTECTED_SHARE;
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

  /** What all entries cost, as the byte budget counts it. */
  get bytes(): number {
    return this.totalBytes;
  }

  accountSize(account: string): number {
    return this.accounts.get(account)?.size ?? 0;
  }

  get(account: string, key: string): V | undefined {
    const state = this.accounts.get(account);
    const found = this.read(state, key);
    if (found === undefined) {
      this.countMiss(account, state);
      if (this.sketch !== null) this.sketch.increment(this.missHash(state, account, key));
      return undefined;
    }
    this.counters.hits++;
    (state as AccountState).counters.hits++;
    return found;
  }

  /**
   * A lookup that counts nothing yet: it updates recency and frequency like `get`, and the caller
   * counts the outcome once with `countLookup`, so one lookup that waited for another task's fetch
   * and then read the result is one hit, not a miss and a hit.
   */
  lookupUncounted(account: string, key: string): V | undefined {
    const state = this.accounts.get(account);
    const found = this.read(state, key);
    if (found === undefined && this.sketch !== null) this.sketch.increment(this.missHash(state, account, key));
    return found;
  }

  /** Counts the outcome of a lookup made with `lookupUncounted`. */
  countLookup(account: string, hit: boolean): void {
    if (hit) {
      this.counters.hits++;
      this.accountState(account).counters.hits++;
    } else this.countMiss(account, this.accounts.get(account));
  }

  /** Whether a live entry exists, without counting a hit or a miss or changing recency. */
  has(account: string, key: string): boolean {
    const state = this.accounts.get(account);
    if (state === undefined) return false;
    const slot = this.find(state, key);
    if (slot === NONE) return false;
    const now = this.clock();
    if (!(this.expiry[slot * 4 + EXPIRY]! > now)) return false;
    const value = this.valueAt(slot);
    if (!(value instanceof Alias)) return true;
    const target = this.find(state, value.target);
    return target !== NONE && this.expiry[target * 4 + EXPIRY]! > now && !(this.valueAt(target) instanceof Alias);
  }

  /**
   * Stores an entry as the account's most recently used. A `cold` write is for a value nobody
   * asked for (a peer seen in passing in a response): it refreshes an entry that exists without
   * making it recent, and a new one is stored only into free room, as the least recently used, so
   * speculation never evicts what tasks looked up (a refresh that would outgrow the byte budget is
   * left out too). Returns whether the value was stored.
   */
  set(account: string, key: string, value: V, ttlMs?: number, temperature: 'hot' | 'cold' = 'hot'): boolean {
    return this.store(account, key, value, this.weigh(value), ttlMs, temperature);
  }

  /**
   * Stores `key` as another name of the account's entry `target` (a username for a peer): reads of
   * `key` return the target's value, and the value is held once. Once the target is gone, `key`
   * misses. An alias of a key the account does not hold, or of another alias, is not stored.
   * Returns whether the alias was stored.
   */
  setAlias(account: string, key: string, target: string, ttlMs?: number, temperature: 'hot' | 'cold' = 'hot'): boolean {
    if (key === target) throw new RangeError(`an alias cannot name itself (${key})`);
    const state = this.accounts.get(account);
    const targetSlot = state === undefined ? NONE : this.find(state, target);
    // A name for nothing (its peer was left out or has gone) would only take room.
    if (targetSlot === NONE || this.valueAt(targetSlot) instanceof Alias) return false;
    // Sharing the target's own key string makes the alias cost nothing but its own key.
    return this.store(account, key, new Alias(this.keyAt(targetSlot)), ALIAS_BYTES, ttlMs, temperature);
  }

  /** Invalidates one entry (for example after Telegram rejected its access hash). */
  delete(account: string, key: string): boolean {
    const state = this.accounts.get(account);
    const slot = state === undefined ? NONE : this.find(state, key);
    if (state === undefined || slot === NONE) return false;
    this.remove(slot);
    this.counters.invalidations++;
    state.counters.invalidations++;
    return true;
  }

  /** Drops every entry of one account, for example when its session was revoked. Returns how many went. */
  invalidateAccount(account: string): number {
    const state = this.accounts.get(account);
    if (state === undefined) return 0;
    const dropped = state.size;
    for (let slot = state.head; slot !== NONE; ) {
      const following = this.meta[slot * STRIDE + ACCOUNT_NEXT]!;
      this.remove(slot);
      slot = following;
    }
    this.counters.invalidations += dropped;
    state.counters.invalidations += dropped;
    if (dropped > 0) this.logger?.debug({ scope: this.scope, account, dropped }, 'invalidated account entries');
    return dropped;
  }

  /** Forgets all entries and all statistics. */
  clear(): void {
    this.accounts.clear();
    this.counters = zeroCounters();
    this.count = 0;
    this.totalBytes = 0;
    this.capacity = 0;
    this.refs = [];
    this.meta = new Int32Array(0);
    this.expiry = new Float64Array(this.meta.buffer);
    this.freeSlot = NONE;
    this.used = 0;
    this.table = new Int32Array(0);
    for (let list = 0; list < 3; list++) {
      this.listHead[list] = NONE;
      this.listTail[list] = NONE;
      this.listCount[list] = 0;
      this.listBytes[list] = 0;
    }
    this.sketch?.clear();
  }

  /**
   * Whether the cache holds live entries (for one account, when named): a warm start saves Telegram
   * calls. Expired entries it passes on the way to a live one are dropped, so each is looked at
   * once and the check stays O(1) amortised however many entries have expired.
   */
  isWarm(account?: string): boolean {
    if (account !== undefined) {
      const state = this.accounts.get(account);
      return state !== undefined && this.accountIsWarm(state);
    }
    for (const state of this.accounts.values()) if (this.accountIsWarm(state)) return true;
    return false;
  }

  /**
   * Sweeps out expired entries; the hot path only drops the ones it happens to read. Accounts found
   * empty by two sweeps in a row are forgotten, counters and all, so a fleet whose accounts come
   * and go does not keep state for every account it ever served. Returns how many entries went.
   */
  removeExpired(): number {
    const now = this.clock();
    let removed = 0;
    for (const state of this.accounts.values()) {
      for (let slot = state.head; slot !== NONE; ) {
        const following = this.meta[slot * STRIDE + ACCOUNT_NEXT]!;
        if (this.expiry[slot * 4 + EXPIRY]! <= now) {
          this.remove(slot);
          this.evicted(state, slot, 'expired');
          removed++;
        }
        slot = following;
      }
    }
    this.sweeps++;
    for (const [name, state] of this.accounts) {
      if (state.size > 0) state.emptyAtSweep = 0;
      else if (state.emptyAtSweep === 0) state.emptyAtSweep = this.sweeps;
      else if (state.emptyAtSweep < this.sweeps) this.accounts.delete(name);
    }
    if (removed > 0) this.logger?.debug({ scope: this.scope, removed, size: this.count }, 'removed expired entries');
    return removed;
  }

  stats(): TelegramCacheStats {
    const accounts: Record<string, AccountCacheStats> = {};
    for (const state of this.accounts.values()) {
      accounts[state.name] = { ...copyCounters(state.counters), size: state.size, bytes: state.bytes };
    }
    return {
      ...copyCounters(this.counters),
      scope: this.scope,
      policy: this.policy,
      size: this.count,
      bytes: this.totalBytes,
      maxSize: this.maxSize,
      maxBytes: this.maxBytes,
      perAccountMaxEntries: this.perAccountMaxEntries,
      accounts,
    };
  }

  /** One account's counters; zero for an account the cache has never seen or has forgotten. */
  accountStats(account: string): AccountCacheStats {
    const state = this.accounts.get(account);
    return state === undefined ? { ...zeroCounters(), size: 0, bytes: 0 } : { ...copyCounters(state.counters), size: state.size, bytes: state.bytes };
  }

  /** Stops background cleanup. Entries stay; the registry clears them when it shuts down. */
  shutdown(): void {
    if (this.cleanupTimer !== null) {
      clearInterval(this.cleanupTimer);
      this.cleanupTimer = null;
    }
  }

  private accountState(account: string): AccountState {
    let state = this.accounts.get(account);
    if (state === undefined) {
      state = { name: account, hash: accountHash(account), size: 0, head: NONE, tail: NONE, bytes: 0, counters: zeroCounters(), emptyAtSweep: 0 };
      this.accounts.set(account, state);
    }
    return state;
  }

  /** The hash of a key `read` just missed: the one its search computed, unless the account was unknown and nothing was searched. */
  private missHash(state: AccountState | undefined, account: string, key: string): number {
    return state === undefined ? keyHash(accountHash(account), key) | 0 : this.foundHash;
  }

  private countMiss(account: string, state: AccountState | undefined): void {
    this.counters.misses++;
    (state ?? this.accountState(account)).counters.misses++;
  }

  private accountIsWarm(state: AccountState): boolean {
    const now = this.clock();
    for (let slot = state.tail; slot !== NONE; ) {
      if (this.expiry[slot * 4 + EXPIRY]! > now) return true;
      const older = this.meta[slot * STRIDE + ACCOUNT_PREV]!;
      this.remove(slot);
      this.evicted(state, slot, 'expired');
      slot = older;
    }
    return false;
  }

  /** The live value under `key`, following an alias to its target, with recency and frequency updated; undefined on a miss. */
  private read(state: AccountState | undefined, key: string): V | undefined {
    if (state === undefined) return undefined;
    const slot = this.find(state, key);
    if (slot === NONE) return undefined;
    const now = this.clock();
    if (this.expiry[slot * 4 + EXPIRY]! <= now) {
      this.remove(slot);
      this.evicted(state, slot, 'expired');
      return undefined;
    }
    const value = this.valueAt(slot) as V | Alias;
    if (!(value instanceof Alias)) {
      this.touch(state, slot);
      return value;
    }
    const aliasHash = this.foundHash;
    const target = this.find(state, value.target);
    if (target === NONE || this.valueAt(target) instanceof Alias || this.expiry[target * 4 + EXPIRY]! <= now) {
      // A miss counts the name that was asked for, not its target.
      this.foundHash = aliasHash;
      // The entry it named has left; the name goes too, for the reason its peer did (the cache was full or it expired).
      this.remove(slot);
      this.evicted(state, slot, target === NONE ? 'capacity' : 'expired');
      return undefined;
    }
    this.touch(state, slot);
    this.touch(state, target);
    return this.valueAt(target) as V;
  }

  private store(account: string, key: string, value: V | Alias, valueBytes: number, ttlMs: number | undefined, temperature: 'hot' | 'cold'): boolean {
    const ttl = ttlMs ?? this.defaultTtlMs;
    checkTtl('ttlMs', ttl);
    const expiresAt = ttl === 0 ? Infinity : this.clock() + ttl;
    const cold = temperature === 'cold';
    const known = this.accounts.get(account);
    const existing = known === undefined ? NONE : this.find(known, key);
    const hash = known === undefined ? keyHash(accountHash(account), key) | 0 : this.foundHash;
    const weight = stringBytes(key) + valueBytes + ENTRY_OVERHEAD_BYTES;
    if (!(weight <= MAX_ENTRY_BYTES)) throw new RangeError(`an entry may cost at most ${MAX_ENTRY_BYTES} bytes, got ${weight} for ${key}`);
    if (cold && (existing === NONE ? !this.hasRoomFor(known, weight) : this.maxBytes !== null && this.totalBytes - this.weightOf(existing) + weight > this.maxBytes)) return false;
    const state = known ?? this.accountState(account);
    this.counters.sets++;
    state.counters.sets++;
    if (existing !== NONE) {
      this.refs[existing * REFS + VALUE] = value;
      this.expiry[existing * 4 + EXPIRY] = expiresAt;
      this.reweigh(state, existing, weight);
      if (!cold) this.touch(state, existing);
      this.evictOverflow(existing);
      return true;
    }
    if (cold) {
      this.insert(state, key, hash, value, expiresAt, weight, true);
      return true;
    }
    if (this.perAccountMaxEntries !== null && state.size >= this.perAccountMaxEntries && state.head !== NONE) {
      const victim = this.accountVictim(state);
      this.remove(victim);
      this.evicted(state, victim, 'accountCap');
    }
    const slot = this.insert(state, key, hash, value, expiresAt, weight, false);
    this.evictOverflow(slot);
    return true;
  }

  private hasRoomFor(state: AccountState | undefined, weight: number): boolean {
    if (this.maxSize !== null && this.count >= this.maxSize) return false;
    if (this.maxBytes !== null && this.totalBytes + weight > this.maxBytes) return false;
    return this.perAccountMaxEntries === null || (state?.size ?? 0) < this.perAccountMaxEntries;
  }

  private overflowing(): boolean {
    return (this.maxSize !== null && this.count > this.maxSize) || (this.maxBytes !== null && this.totalBytes > this.maxBytes);
  }

  private evicted(state: AccountState, slot: number, reason: EvictionReason): void {
    // An entry pushed out after its time was up left because it expired, whatever pushed it.
    const why: EvictionReason = reason !== 'expired' && this.expiry[slot * 4 + EXPIRY]! <= this.clock() ? 'expired' : reason;
    this.counters.evictions[why]++;
    state.counters.evictions[why]++;
    this.onEvict?.(state.name, this.keyAt(slot), why);
  }

  private allocate(): number {
    if (this.freeSlot !== NONE) {
      const slot = this.freeSlot;
      this.freeSlot = this.meta[slot * STRIDE + NEXT]!;
      return slot;
    }
    if (this.used === this.capacity) this.grow();
    return this.used++;
  }

  private grow(): void {
    // A cache bounded in entries never needs more slots than its bound and the one a write holds
    // before eviction makes room, so it never pays for growth slack it cannot use.
    const wanted = this.capacity === 0 ? INITIAL_SLOTS : Math.ceil(this.capacity * 1.5);
    const capacity = this.maxSize === null ? wanted : Math.min(wanted, this.maxSize + 1);
    const meta = new Int32Array(capacity * STRIDE);
    meta.set(this.meta);
    this.meta = meta;
    this.expiry = new Float64Array(meta.buffer);
    this.capacity = capacity;
    this.sketch?.ensureCapacity(capacity);
    this.rehash();
  }

  /** Sizes the table for every slot at a load of at most three quarters, and puts each entry back. */
  private rehash(): void {
    let length = 8;
    while (length * 3 < this.capacity * 4) length <<= 1;
    if (length === this.table.length) return;
    this.table = new Int32Array(length);
    for (let slot = 0; slot < this.used; slot++) if (this.ownerAt(slot) !== undefined) this.place(slot);
  }

  /** The slot of the account's entry under `key`, or NONE. */
  private find(state: AccountState, key: string): number {
    const hash = keyHash(state.hash, key) | 0;
    this.foundHash = hash;
    const table = this.table;
    const mask = table.length - 1;
    if (mask < 0) return NONE;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const entry = table[i]!;
      if (entry === 0) return NONE;
      const slot = entry - 1;
      if (this.meta[slot * STRIDE + HASH] === hash && this.refs[slot * REFS + OWNER] === state && this.refs[slot * REFS] === key) return slot;
    }
  }

  private place(slot: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.meta[slot * STRIDE + HASH]! & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  /** Takes the slot out of the table, shifting back later entries of its probe run so that no search stops short at the hole. */
  private unplace(slot: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let hole = this.meta[slot * STRIDE + HASH]! & mask;
    while (table[hole] !== slot + 1) hole = (hole + 1) & mask;
    for (let i = (hole + 1) & mask; table[i] !== 0; i = (i + 1) & mask) {
      const home = this.meta[(table[i]! - 1) * STRIDE + HASH]! & mask;
      // The entry at i may fill the hole unless its home lies cyclically within (hole, i].
      const homeInRun = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (!homeInRun) {
        table[hole] = table[i]!;
        hole = i;
      }
    }
    table[hole] = 0;
  }

  private insert(state: AccountState, key: string, hash: number, value: V | Alias, expiresAt: number, weight: number, cold: boolean): number {
    const slot = this.allocate();
    const at = slot * REFS;
    this.refs[at] = key;
    this.refs[at + VALUE] = value;
    this.refs[at + OWNER] = state;
    this.expiry[slot * 4 + EXPIRY] = expiresAt;
    this.meta[slot * STRIDE + WEIGHT_LIST] = weight << LIST_BITS;
    this.meta[slot * STRIDE + HASH] = hash;
    this.place(slot);
    state.size++;
    state.bytes += weight;
    this.count++;
    this.totalBytes += weight;
    if (cold) {
      this.pushOldest(this.policy === CachePolicy.LRU ? MAIN : PROBATION, slot);
      this.accountPushOldest(state, slot);
    } else {
      this.pushNewest(this.policy === CachePolicy.LRU ? MAIN : WINDOW, slot);
      this.accountPushNewest(state, slot);
    }
    return slot;
  }

  private reweigh(state: AccountState, slot: number, weight: number): void {
    const delta = weight - this.weightOf(slot);
    const at = slot * STRIDE + WEIGHT_LIST;
    const list = this.listOf(slot);
    this.meta[at] = (weight << LIST_BITS) | (this.meta[at]! & 7);
    state.bytes += delta;
    this.totalBytes += delta;
    this.listBytes[list]! += delta;
  }

  /** Unlinks an entry from everything and frees its slot; the caller counts why it went. */
  private remove(slot: number): void {
    const state = this.ownerAt(slot) as AccountState;
    this.unlinkList(slot);
    this.accountUnlink(state, slot);
    this.unplace(slot);
    state.size--;
    state.bytes -= this.weightOf(slot);
    this.count--;
    this.totalBytes -= this.weightOf(slot);
    // The key stays until the slot is reused: the caller reports it as evicted.
    this.refs[slot * REFS + VALUE] = undefined;
    this.refs[slot * REFS + OWNER] = undefined;
    this.meta[slot * STRIDE + NEXT] = this.freeSlot;
    this.freeSlot = slot;
  }

  /**
   * A read or a hot write: the entry moves up its policy's lists. Under LRU it also becomes its
   * account's newest. Under W-TinyLFU it is only marked used again, in the slot it was read from:
   * moving it in its account's list would touch three more slots on every hit, and the account's
   * cap only needs an entry not used since the cap last passed over it (`accountVictim`).
   */
  private touch(state: AccountState, slot: number): void {
    if (this.sketch === null) {
      if (state.tail !== slot) {
        this.accountUnlink(state, slot);
        this.accountPushNewest(state, slot);
      }
      if (this.listTail[MAIN] !== slot) this.moveNewest(MAIN, slot);
      return;
    }
    this.meta[slot * STRIDE + WEIGHT_LIST]! |= USED_AGAIN;
    this.sketch.increment(this.meta[slot * STRIDE + HASH]!);
    const list = this.listOf(slot);
    if (list === PROBATION) {
      this.moveNewest(PROTECTED, slot);
      this.demoteProtectedOverflow();
    } else if (this.listTail[list] !== slot) this.moveNewest(list, slot);
  }

  /**
   * Restores the bounds after `fresh` was stored or grew. LRU evicts from the old end. W-TinyLFU
   * lets the window's overflow compete with the main cache's least recent entries: a candidate gets
   * in only by having been asked for more often than the victim.
   */
  private evictOverflow(fresh: number): void {
    if (this.sketch === null) {
      while (this.overflowing() && this.listHead[MAIN] !== NONE) {
        const victim = this.listHead[MAIN] === fresh && this.count > 1 ? this.meta[fresh * STRIDE + NEXT]! : this.listHead[MAIN]!;
        this.evictSlot(victim);
      }
      return;
    }
    while (this.windowOverflowing()) {
      const candidate = this.listHead[WINDOW]!;
      this.moveNewest(PROBATION, candidate);
      while (this.overflowing()) {
        let victim = this.listHead[PROBATION]!;
        if (victim === candidate) victim = this.listHead[PROTECTED]!;
        if (victim === NONE) {
          this.evictSlot(candidate);
          break;
        }
        if (!this.admits(candidate, victim)) {
          this.evictSlot(candidate);
          break;
        }
        this.evictSlot(victim);
      }
    }
    while (this.overflowing()) {
      const victim = this.listHead[PROBATION] !== NONE ? this.listHead[PROBATION]! : this.listHead[PROTECTED] !== NONE ? this.listHead[PROTECTED]! : this.listHead[WINDOW]!;
      if (victim === NONE) return;
      this.evictSlot(victim);
    }
  }

  /**
   * The entry the account gives up at its cap. Under LRU its least recently used; under W-TinyLFU
   * its oldest not used again since the cap last passed over it (a clock's second chance): each
   * entry passed over moves to the new end, so every use is passed over at most once.
   */
  private accountVictim(state: AccountState): number {
    if (this.sketch === null) return state.head;
    for (;;) {
      const slot = state.head;
      const at = slot * STRIDE + WEIGHT_LIST;
      if ((this.meta[at]! & USED_AGAIN) === 0) return slot;
      this.meta[at]! &= ~USED_AGAIN;
      this.accountUnlink(state, slot);
      this.accountPushNewest(state, slot);
    }
  }

  private evictSlot(slot: number): void {
    const state = this.ownerAt(slot) as AccountState;
    this.remove(slot);
    this.evicted(state, slot, 'capacity');
  }

  private admits(candidate: number, victim: number): boolean {
    const sketch = this.sketch as FrequencySketch;
    const wanted = sketch.frequency(this.meta[candidate * STRIDE + HASH]!);
    const kept = sketch.frequency(this.meta[victim * STRIDE + HASH]!);
    if (wanted > kept) return true;
    if (wanted <= WARM_CANDIDATE) return false;
    this.random ^= this.random << 13;
    this.random ^= this.random >>> 17;
    this.random ^= this.random << 5;
    return (this.random & 127) === 0;
  }

  private windowOverflowing(): boolean {
    const count = this.listCount[WINDOW]!;
    if (count === 0) return false;
    if (count > this.windowMaxEntries) return true;
    return this.listBytes[WINDOW]! > this.windowMaxBytes && count > 1;
  }

  private demoteProtectedOverflow(): void {
    while (this.listCount[PROTECTED]! > 1 && this.protectedOverflowing()) this.moveNewest(PROBATION, this.listHead[PROTECTED]!);
  }

  private protectedOverflowing(): boolean {
    return this.listCount[PROTECTED]! > this.protectedMaxEntries || this.listBytes[PROTECTED]! > this.protectedMaxBytes;
  }

  private keyAt(slot: number): string {
    return this.refs[slot * REFS] as string;
  }

  private valueAt(slot: number): V | Alias | undefined {
    return this.refs[slot * REFS + VALUE] as V | Alias | undefined;
  }

  private ownerAt(slot: number): AccountState | undefined {
    return this.refs[slot * REFS + OWNER] as AccountState | undefined;
  }

  /** What the entry costs; it shares its number with the entry's list (two bits) and used-again bit, an entry's cost being far below 2^28. */
  private weightOf(slot: number): number {
    return this.meta[slot * STRIDE + WEIGHT_LIST]! >>> LIST_BITS;
  }

  private listOf(slot: number): number {
    return this.meta[slot * STRIDE + WEIGHT_LIST]! & 3;
  }

  private setList(slot: number, list: number): void {
    const at = slot * STRIDE + WEIGHT_LIST;
    this.meta[at] = (this.meta[at]! & ~3) | list;
  }

  private pushNewest(list: number, slot: number): void {
    const tail = this.listTail[list]!;
    this.meta[slot * STRIDE + PREV] = tail;
    this.meta[slot * STRIDE + NEXT] = NONE;
    if (tail !== NONE) this.meta[tail * STRIDE + NEXT] = slot;
    else this.listHead[list] = slot;
    this.listTail[list] = slot;
    this.setList(slot, list);
    this.listCount[list]!++;
    this.listBytes[list]! += this.weightOf(slot);
  }

  private pushOldest(list: number, slot: number): void {
    const head = this.listHead[list]!;
    this.meta[slot * STRIDE + NEXT] = head;
    this.meta[slot * STRIDE + PREV] = NONE;
    if (head !== NONE) this.meta[head * STRIDE + PREV] = slot;
    else this.listTail[list] = slot;
    this.listHead[list] = slot;
    this.setList(slot, list);
    this.listCount[list]!++;
    this.listBytes[list]! += this.weightOf(slot);
  }

  private unlinkList(slot: number): void {
    const list = this.listOf(slot);
    const before = this.meta[slot * STRIDE + PREV]!;
    const after = this.meta[slot * STRIDE + NEXT]!;
    if (before !== NONE) this.meta[before * STRIDE + NEXT] = after;
    else this.listHead[list] = after;
    if (after !== NONE) this.meta[after * STRIDE + PREV] = before;
    else this.listTail[list] = before;
    this.listCount[list]!--;
    this.listBytes[list]! -= this.weightOf(slot);
  }

  private moveNewest(list: number, slot: number): void {
    this.unlinkList(slot);
    this.pushNewest(list, slot);
  }

  private accountPushNewest(state: AccountState, slot: number): void {
    this.meta[slot * STRIDE + ACCOUNT_PREV] = state.tail;
    this.meta[slot * STRIDE + ACCOUNT_NEXT] = NONE;
    if (state.tail !== NONE) this.meta[state.tail * STRIDE + ACCOUNT_NEXT] = slot;
    else state.head = slot;
    state.tail = slot;
  }

  private accountPushOldest(state: AccountState, slot: number): void {
    this.meta[slot * STRIDE + ACCOUNT_NEXT] = state.head;
    this.meta[slot * STRIDE + ACCOUNT_PREV] = NONE;
    if (state.head !== NONE) this.meta[state.head * STRIDE + ACCOUNT_PREV] = slot;
    else state.tail = slot;
    state.head = slot;
  }

  private accountUnlink(state: AccountState, slot: number): void {
    const before = this.meta[slot * STRIDE + ACCOUNT_PREV]!;
    const after = this.meta[slot * STRIDE + ACCOUNT_NEXT]!;
    if (before !== NONE) this.meta[before * STRIDE + ACCOUNT_NEXT] = after;
    else state.head = after;
    if (after !== NONE) this.meta[after * STRIDE + ACCOUNT_PREV] = before;
    else state.tail = before;
  }
}
