import type { CacheLogger } from '../../telemetry/logger.js';
import type { CacheStore, StoreBounds, StoreDriver, StoredEntry, StoreTouch, StoreWrite } from './cache-store.js';
import type { CacheStoreConfig } from './store-config.js';

/**
 * Opens the configured store. Each driver's module (and its client library, native or not) is
 * imported only here, so a runtime without a store never loads one. A store that cannot be
 * opened is a warning and a cold, memory-only cache, never a failed start; a server store
 * (PostgreSQL, Redis) is then tried again as the cache next reads or writes, and used once it
 * answers.
 */
export async function openStore(config: CacheStoreConfig, logger?: CacheLogger): Promise<CacheStore | null> {
  const open = (): Promise<CacheStore> => openDriver(config, logger);
  try {
    return config.driver === 'none' ? null : await open();
  } catch (error) {
    if (config.driver === 'postgres' || config.driver === 'redis') {
      logger?.warn(
        { driver: config.driver, error: (error as Error).message },
        'the cache store could not be opened: the cache runs from memory only, and attaches to the store once it answers (reads and writes try it again with growing waits)',
      );
      return new StoreWhenUp(config.driver, open, logger);
    }
    logger?.warn({ driver: config.driver, error: (error as Error).message }, 'the cache store could not be opened: the cache runs from memory only');
    return null;
  }
}

async function openDriver(config: CacheStoreConfig, logger?: CacheLogger): Promise<CacheStore> {
  switch (config.driver) {
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite-store.js');
      return SqliteStore.open(config.sqlitePath, logger);
    }
    case 'postgres': {
      const { PostgresStore } = await import('./postgres-store.js');
      return PostgresStore.open(config.postgresUrl, config.postgresTable);
    }
    case 'redis': {
      const { RedisStore } = await import('./redis-store.js');
      return RedisStore.open(config.redisUrl, config.redisPrefix);
    }
    case 'none':
      throw new Error('cache.store.driver is none: there is no store to open');
  }
}

/**
 * A server store that was down when the runtime started. Every call first tries to open it, and
 * fails as a call of a store that went away would while it cannot be: the cache already backs
 * off and retries such calls, so no timer of its own is needed. The first call that opens it
 * attaches the cache to it.
 */
class StoreWhenUp implements CacheStore {
  private store: CacheStore | null = null;
  private opening: Promise<CacheStore> | null = null;
  private closed = false;
  private attempts = 0;

  constructor(
    readonly driver: StoreDriver,
    private readonly open: () => Promise<CacheStore>,
    private readonly logger: CacheLogger | undefined,
  ) {}

  get requests(): number {
    return this.attempts + (this.store?.requests ?? 0);
  }

  async getMany(account: string, keys: readonly string[], now: number): Promise<StoredEntry[]> {
    return (await this.opened()).getMany(account, keys, now);
  }

  async recent(account: string, limit: number, now: number): Promise<StoredEntry[]> {
    return (await this.opened()).recent(account, limit, now);
  }

  async accounts(now: number): Promise<string[]> {
    return (await this.opened()).accounts(now);
  }

  async write(entries: readonly StoreWrite[], touches?: readonly StoreTouch[]): Promise<void> {
    return (await this.opened()).write(entries, touches);
  }

  async delete(account: string, keys: readonly string[]): Promise<void> {
    return (await this.opened()).delete(account, keys);
  }

  async deleteAccount(account: string): Promise<void> {
    return (await this.opened()).deleteAccount(account);
  }

  async prune(now: number, bounds: StoreBounds): Promise<number> {
    return (await this.opened()).prune(now, bounds);
  }

  async close(): Promise<void> {
    this.closed = true;
    const store = this.store ?? (await this.opening?.catch(() => null));
    this.store = null;
    await store?.close();
  }

  private opened(): Promise<CacheStore> {
    if (this.store !== null) return Promise.resolve(this.store);
    if (this.closed) return Promise.reject(new Error('the cache store is closed'));
    this.opening ??= (async () => {
      this.attempts++;
      try {
        const store = await this.open();
        if (this.closed) {
          await store.close();
          throw new Error('the cache store is closed');
        }
        this.store = store;
        this.logger?.info({ driver: this.driver, attempts: this.attempts }, 'the cache store answers now: the cache reads from it and writes to it again');
        return store;
      } finally {
        this.opening = null;
      }
    })();
    return this.opening;
  }
}
