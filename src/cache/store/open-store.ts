import type { CacheLogger } from '../../telemetry/logger.js';
import type { CacheStore } from './cache-store.js';
import type { CacheStoreConfig } from './store-config.js';

/**
 * Opens the configured store. Each driver's module (and its client library, native or not) is
 * imported only here, so a runtime without a store never loads one. A store that cannot be
 * opened is a warning and a cold, memory-only cache, never a failed start.
 */
export async function openStore(config: CacheStoreConfig, logger?: CacheLogger): Promise<CacheStore | null> {
  try {
    switch (config.driver) {
      case 'none':
        return null;
      case 'sqlite': {
        const { SqliteStore } = await import('./sqlite-store.js');
        return SqliteStore.open(config.sqlitePath, logger);
      }
      case 'postgres': {
        const { PostgresStore } = await import('./postgres-store.js');
        return await PostgresStore.open(config.postgresUrl, config.postgresTable);
      }
      case 'redis': {
        const { RedisStore } = await import('./redis-store.js');
        return await RedisStore.open(config.redisUrl, config.redisPrefix);
      }
    }
  } catch (error) {
    logger?.warn({ driver: config.driver, error: (error as Error).message }, 'the cache store could not be opened: the cache runs from memory only');
    return null;
  }
}
