import type { StoreDriver } from './cache-store.js';

/** `cache.store` as the runtime uses it (docs/CONFIGURATION.md has the keys and their ranges). */
export interface CacheStoreConfig {
  /** 'none' keeps the cache in memory only. */
  driver: StoreDriver | 'none';
  sqlitePath: string;
  postgresUrl: string;
  postgresTable: string;
  redisUrl: string;
  redisPrefix: string;
  writeIntervalMs: number;
  maxQueue: number;
  maxAgeMs: number;
  maxEntries: number;
  cleanupIntervalMs: number;
}
