import type { TelegramCacheRegistry } from '../cache/registry.js';
import type { AccountCacheStats, TelegramCache, TelegramCacheScope, TelegramCacheStats } from '../cache/telegram-cache.js';

const EMPTY: AccountCacheStats = Object.freeze({ hits: 0, misses: 0, sets: 0, invalidations: 0, evictions: Object.freeze({ capacity: 0, accountCap: 0, expired: 0 }), size: 0, bytes: 0 });

/**
 * The cache a task is served from, made when the task first reads or writes it. In task scope a
 * fresh cache costs more than Piscina's whole round trip, and many tasks never touch the cache
 * (or touch it only after their own work): those pay nothing. In process scope it is the shared
 * cache from the start.
 */
export class TaskCache {
  readonly scope: TelegramCacheScope;
  private made: TelegramCache | null;

  constructor(
    private readonly registry: TelegramCacheRegistry,
    private readonly taskId: string,
  ) {
    this.scope = registry.scope;
    this.made = registry.scope === 'process' ? registry.getCache(taskId) : null;
  }

  get cache(): TelegramCache {
    this.made ??= this.registry.getCache(this.taskId);
    return this.made;
  }

  /** A cache not made yet holds nothing: in task scope the account starts cold. */
  isWarm(account: string): boolean {
    return this.made?.isWarm(account) ?? false;
  }

  accountStats(account: string): AccountCacheStats {
    return this.made?.accountStats(account) ?? EMPTY;
  }

  stats(): TelegramCacheStats {
    return this.cache.stats();
  }

  get perAccountMaxEntries(): number | null {
    return this.made?.perAccountMaxEntries ?? null;
  }

  /** Hands the cache back to the registry (task scope: cleared and dropped), if it was ever made. */
  release(): void {
    if (this.made !== null) this.registry.releaseCache(this.made);
  }
}
