import { ConfigError, loadConfig, parseCacheSection, type CacheConfig, type CacheSection, type FleetConfig, type LoadedConfig } from '../config/config.js';
import type { CacheLogger } from '../telemetry/logger.js';
import { DurableTelegramCache, type DurableCacheOptions } from './store/durable-cache.js';
import { openStore } from './store/open-store.js';
import { TelegramCache, TelegramCacheScope, type Clock, type TelegramCacheOptions } from './telegram-cache.js';

export interface TelegramCacheRegistryOptions {
  clock?: Clock;
  logger?: CacheLogger;
  onEvict?: TelegramCacheOptions['onEvict'];
  /** Real ms per ms of `clock`, so the durable store keeps wall-clock times (see DurableCacheOptions). */
  timeScale?: number;
  /** Which values are negative entries, written through to the store at once. */
  isNegative?: DurableCacheOptions['isNegative'];
}

/**
 * What a registry is built from: the `cache:` section as config.yaml holds it (snake_case, any
 * subset), what `loadConfig()` returns, its `config`, or that config's complete `cache`.
 */
export type TelegramCacheRegistryConfig = CacheSection | LoadedConfig | FleetConfig | CacheConfig;

/** The keys only the loaded (camelCase) cache config has; the YAML section spells them differently. */
const LOADED_KEYS = ['taskMaxSize', 'processMaxBytes', 'processMaxSize', 'cleanupIntervalMs', 'perAccountMaxEntries', 'entityTtlMs', 'usernameTtlMs', 'negativeTtlMs', 'leaseTimeoutMs'] as const;

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The loaded form passes as it is (the loader checked it); anything else is read as a YAML
 * section. A loaded form with keys missing was put together by hand, and would fail far from here
 * with the cache's own terms, so it is refused naming what is missing.
 */
function cacheConfigOf(given: unknown): CacheConfig {
  if (isRecord(given) && isRecord(given.config) && 'warnings' in given) return cacheConfigOf(given.config);
  if (isRecord(given) && isRecord(given.cache) && 'runtime' in given) return cacheConfigOf(given.cache);
  if (!isRecord(given) || !LOADED_KEYS.some((key) => key in given)) return parseCacheSection(given, 'the TelegramCacheRegistry config');
  const missing = [...LOADED_KEYS, 'store'].filter((key) => given[key] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      `the TelegramCacheRegistry config is in the loaded (camelCase) form but lacks ${missing.join(', ')}: pass loadConfig().config.cache whole, or the cache: section as config.yaml spells it (e.g. { scope: 'process', process: { max_bytes: 2000000 } })`,
      'the TelegramCacheRegistry config',
    );
  }
  return given as unknown as CacheConfig;
}

/**
 * Decides, in one place, whether a task gets a fresh cache or the process-wide one. Everything
 * else follows from the scope of the cache a task is handed (whether its misses coalesce with
 * other tasks', whether anything is left when it ends), so task scope keeps its old behaviour.
 */
export class TelegramCacheRegistry {
  readonly scope: TelegramCacheScope;
  readonly config: CacheConfig;
  private processCache: TelegramCache | null = null;
  private closed = false;

  constructor(
    config: TelegramCacheRegistryConfig = {},
    private readonly options: TelegramCacheRegistryOptions = {},
  ) {
    this.config = cacheConfigOf(config);
    this.scope = this.config.scope;
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
    this.processCache ??= this.createProcessCache(common);
    return this.processCache;
  }

  /**
   * Resolves once the process cache is ready to serve: at once without a store; with one, when
   * the store is open and each account's entries are back in memory, so the first tasks after a
   * restart find them there.
   */
  async ready(): Promise<void> {
    if (this.scope !== TelegramCacheScope.PROCESS || this.closed) return;
    const cache = this.getCache();
    if (cache instanceof DurableTelegramCache) await cache.ready;
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

  /**
   * Stops background cleanup and clears the process cache, so a long-lived host does not hold
   * memory. A durable store gets the writes still queued first and is closed; the promise
   * settles when it is. Safe to call twice.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const cache = this.processCache;
    if (cache === null) return;
    this.processCache = null;
    if (cache instanceof DurableTelegramCache) await cache.close();
    else cache.shutdown();
    cache.clear();
  }

  private createProcessCache(common: Pick<TelegramCacheOptions, 'defaultTtlMs' | 'clock' | 'logger' | 'onEvict'>): TelegramCache {
    const options: TelegramCacheOptions = {
      ...common,
      scope: TelegramCacheScope.PROCESS,
      taskId: null,
      maxSize: this.config.processMaxSize,
      maxBytes: this.config.processMaxBytes,
      policy: this.config.policy,
      perAccountMaxEntries: this.config.perAccountMaxEntries,
      enableBackgroundCleanup: true,
      cleanupIntervalMs: this.config.cleanupIntervalMs,
    };
    const store = this.config.store;
    if (store.driver === 'none') return new TelegramCache(options);
    return new DurableTelegramCache({
      ...options,
      store: openStore(store, this.options.logger),
      writeIntervalMs: store.writeIntervalMs,
      maxQueue: store.maxQueue,
      bounds: { maxAgeMs: store.maxAgeMs, maxEntries: store.maxEntries },
      storeCleanupIntervalMs: store.cleanupIntervalMs,
      ...(this.options.timeScale !== undefined && { timeScale: this.options.timeScale }),
      ...(this.options.isNegative && { isNegative: this.options.isNegative }),
    });
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
  void globalRegistry?.shutdown();
  globalRegistry = replacement;
}
