import { loadConfig, type CacheConfig } from '../config/config.js';
import type { CacheLogger } from '../telemetry/logger.js';
import { TelegramCache, TelegramCacheScope, type Clock, type TelegramCacheOptions } from './telegram-cache.js';

export interface TelegramCacheRegistryOptions {
  clock?: Clock;
  logger?: CacheLogger;
  onEvict?: TelegramCacheOptions['onEvict'];
}

/**
 * Decides, in one place, whether a task gets a fresh cache or the process-wide one. Everything
 * else follows from the scope of the cache a task is handed (whether its misses coalesce with
 * other tasks', whether anything is left when it ends), so task scope keeps its old behaviour.
 */
export class TelegramCacheRegistry {
  readonly scope: TelegramCacheScope;
  private processCache: TelegramCache | null = null;
  private closed = false;

  constructor(
    readonly config: CacheConfig,
    private readonly options: TelegramCacheRegistryOptions = {},
  ) {
    this.scope = config.scope;
  }

  /** In task scope a fresh cache for this task; in process scope the one shared cache. */
  getCache(taskId: string | number | null = null): TelegramCache {
    if (this.closed) {
      throw new Error('the cache registry has been shut down; create a new registry (or reset the global one) to get caches again');
    }
    const common = {
      defaultTtlMs: this.config.entityTtlMs,
      ...(this.options.clock && { clock: this.options.clock }),
      ...(this.options.logger && { logger: this.options.logger }),
      ...(this.options.onEvict && { onEvict: this.options.onEvict }),
    };
    if (this.scope === TelegramCacheScope.TASK) {
      return new TelegramCache({ ...common, scope: TelegramCacheScope.TASK, taskId, maxSize: this.config.taskMaxSize, policy: this.config.policy });
    }
    this.processCache ??= new TelegramCache({
      ...common,
      scope: TelegramCacheScope.PROCESS,
      taskId: null,
      maxSize: this.config.processMaxSize,
      maxBytes: this.config.processMaxBytes,
      policy: this.config.policy,
      perAccountMaxEntries: this.config.perAccountMaxEntries,
      enableBackgroundCleanup: true,
      cleanupIntervalMs: this.config.cleanupIntervalMs,
    });
    return this.processCache;
  }

  /** Task scope: the cache is cleared and dropped. Process scope: entries and stats stay for the next task. */
  releaseCache(cache: TelegramCache): void {
    if (cache === this.processCache) return;
    cache.shutdown();
    cache.clear();
  }

  /** The shared cache if process scope has created it, for telemetry. */
  get currentProcessCache(): TelegramCache | null {
    return this.processCache;
  }

  get isShutdown(): boolean {
    return this.closed;
  }

  /** Stops background cleanup and clears the process cache, so a long-lived host does not hold memory. Safe to call twice. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.processCache !== null) {
      this.processCache.shutdown();
      this.processCache.clear();
      this.processCache = null;
    }
  }
}

let globalRegistry: TelegramCacheRegistry | null = null;

/**
 * The process's registry, created on first use from the global config (config.yaml or
 * $TGFLEET_CONFIG), for code that follows the seed's pattern of one registry per process. A
 * FleetRuntime builds its own from the config it was started with, so two runtimes in one host
 * (say, staging and production fleets) never share a cache.
 */
export function getCacheRegistry(): TelegramCacheRegistry {
  globalRegistry ??= new TelegramCacheRegistry(loadConfig().config.cache);
  return globalRegistry;
}

/**
 * Shuts the global registry down and forgets it, so the next `getCacheRegistry()` reads the
 * config again. Tests use it to switch scopes; a host may use it after reloading its config.
 */
export function resetCacheRegistry(replacement: TelegramCacheRegistry | null = null): void {
  globalRegistry?.shutdown();
  globalRegistry = replacement;
}
