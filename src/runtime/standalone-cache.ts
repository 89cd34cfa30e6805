/*
 * A cached client for scripts and debugging. It never consults the registry: a process cache may
 * outlive a debug run, and a script has no reporter or shutdown hook to release it, so sharing
 * would leak state both ways. It gets its own isolated cache, single flight and flood control,
 * the same pieces a fleet task's cache view is made of, in the same process.
 */
import type { TelegramClient } from 'telegram';
import { TelegramCache, type Clock } from '../cache/telegram-cache.js';
import type { AccountCache } from '../channel/channel-client.js';
import { ACCOUNT_CACHE_METHODS, type AccountCacheApi } from '../channel/protocol.js';
import { defaultConfig } from '../config/config.js';
import { AccountEndpoint } from './account-endpoint.js';
import { FloodControl } from './flood-control.js';
import { SingleFlight } from './single-flight.js';
import type { CacheLogger } from '../telemetry/logger.js';
import { CachedTelegramClient, type EntityTtls } from '../telegram/cached-client.js';

export interface StandaloneCacheOptions extends Partial<EntityTtls> {
  /** Defaults to a task cache's size; the TTLs default as in config.yaml. */
  maxSize?: number;
  logger?: CacheLogger;
  clock?: Clock;
}

export interface StandaloneCache {
  client: CachedTelegramClient;
  /** The cache behind `client`, for inspection; nothing else reads or writes it. */
  cache: TelegramCache;
}

/** The one account a standalone cache serves: the client's own. */
const STANDALONE_ACCOUNT = 'standalone';

/** The worker's view of a cache is asynchronous; an in-process one only has to look the same. */
function asAccountCache(api: AccountCacheApi): AccountCache {
  return Object.fromEntries(ACCOUNT_CACHE_METHODS.map((method) => [method, async (...args: unknown[]) => (api[method] as (...values: unknown[]) => unknown)(...args)])) as AccountCache;
}

export function initStandaloneCache(client: TelegramClient, options: StandaloneCacheOptions = {}): StandaloneCache {
  const defaults = defaultConfig().cache;
  const ttls: EntityTtls = {
    entityTtlMs: options.entityTtlMs ?? defaults.entityTtlMs,
    usernameTtlMs: options.usernameTtlMs ?? defaults.usernameTtlMs,
    negativeTtlMs: options.negativeTtlMs ?? defaults.negativeTtlMs,
  };
  const cache = TelegramCache.createIsolated(options.maxSize ?? defaults.taskMaxSize, {
    defaultTtlMs: ttls.entityTtlMs,
    ...(options.clock && { clock: options.clock }),
    ...(options.logger && { logger: options.logger }),
  });
  const endpoint = new AccountEndpoint(cache, STANDALONE_ACCOUNT, STANDALONE_ACCOUNT, {
    singleFlight: new SingleFlight(defaults.leaseTimeoutMs),
    flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0 }),
  });
  options.logger?.info({ maxSize: cache.maxSize }, 'Initialized standalone cache (isolated from task/process scopes)');
  return { client: new CachedTelegramClient(client, asAccountCache(endpoint), ttls), cache };
}
