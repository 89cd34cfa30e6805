import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CacheStore } from '../src/cache/store/cache-store.js';
import { DurableTelegramCache } from '../src/cache/store/durable-cache.js';
import { encodeValue } from '../src/cache/store/entry-codec.js';
import { openStore } from '../src/cache/store/open-store.js';
import { PostgresStore } from '../src/cache/store/postgres-store.js';
import { RedisStore } from '../src/cache/store/redis-store.js';
import type { CacheStoreConfig } from '../src/cache/store/store-config.js';
import { memoryLogger } from './helpers/runtime.js';
import { dropPostgresTable, dropRedisPrefix, POSTGRES_URL, postgresUnavailable, REDIS_URL, redisUnavailable, uniqueName } from './helpers/store-servers.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { until } from './helpers/until.js';

const base: CacheStoreConfig = {
  driver: 'none',
  sqlitePath: 'unused.sqlite',
  postgresUrl: POSTGRES_URL,
  postgresTable: 'unused',
  redisUrl: REDIS_URL,
  redisPrefix: 'unused:',
  writeIntervalMs: 20,
  maxQueue: 1000,
  maxAgeMs: 86_400_000,
  maxEntries: 1_000_000,
  cleanupIntervalMs: 60_000,
};

interface Server {
  name: string;
  unavailable(): Promise<string | null>;
  port: number;
  /** The store's config through the proxy's `port`, a store straight to the server at the same place, and its removal. */
  place(port: number): Promise<{ config: CacheStoreConfig; direct: CacheStore; drop(): Promise<void> }>;
}

const servers: Server[] = [
  {
    name: 'PostgreSQL',
    unavailable: () => postgresUnavailable(),
    port: 5432,
    place: async (port) => {
      const table = uniqueName('tgfleet_cache_startup');
      return {
        config: { ...base, driver: 'postgres', postgresUrl: `postgres://127.0.0.1:${port}/test`, postgresTable: table },
        direct: await PostgresStore.open(POSTGRES_URL, table),
        drop: () => dropPostgresTable(table),
      };
    },
  },
  {
    name: 'Redis',
    unavailable: () => redisUnavailable(),
    port: 6379,
    place: async (port) => {
      const prefix = `${uniqueName('tgfleet:cache-startup')}:`;
      return {
        config: { ...base, driver: 'redis', redisUrl: `redis://127.0.0.1:${port}`, redisPrefix: prefix },
        direct: await RedisStore.open(REDIS_URL, prefix),
        drop: () => dropRedisPrefix(prefix),
      };
    },
  },
];

const ACCOUNT = '+15550000001';

for (const server of servers) {
  describe(`a ${server.name} store that is down when the runtime starts`, () => {
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      const reason = await server.unavailable();
      if (reason !== null) throw new Error(`the ${server.name} start-up test needs its server: ${reason}`);
    });

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('runs from memory with a warning, then attaches to the store once it answers', async () => {
      const proxy = await TcpProxy.start('127.0.0.1', server.port);
      cleanups.push(() => proxy.close());
      const { config, direct, drop } = await server.place(proxy.port);
      cleanups.push(drop, () => direct.close());
      proxy.cut();
      const { logger, lines } = memoryLogger();
      const cache = new DurableTelegramCache({
        scope: 'process',
        maxSize: null,
        maxBytes: 16 * 1024 * 1024,
        defaultTtlMs: 0,
        store: openStore(config, logger),
        writeIntervalMs: config.writeIntervalMs,
        maxQueue: config.maxQueue,
        bounds: { maxAgeMs: config.maxAgeMs, maxEntries: config.maxEntries },
        storeCleanupIntervalMs: config.cleanupIntervalMs,
        logger,
      });
      cleanups.push(() => cache.close());
      await cache.ready;
      expect(lines.some((line) => line.level === 40 && String(line.msg).includes('runs from memory only, and attaches to the store once it answers'))).toBe(true);

      cache.set(ACCOUNT, 'p:mine', 'secret-value-mine');
      expect(cache.get(ACCOUNT, 'p:mine')).toBe('secret-value-mine');
      await until(() => cache.storeStats().failedFlushes >= 1);
      expect(cache.storeStats()).toMatchObject({ written: 0, queued: 1, dropped: 0 });

      proxy.restore();
      await until(async () => (await direct.getMany(ACCOUNT, ['p:mine'], Date.now())).length === 1);
      expect(lines.some((line) => String(line.msg).includes('the cache store answers now'))).toBe(true);

      // Reads go to the store too: what another host wrote there is found and promoted.
      await direct.write([{ account: ACCOUNT, key: 'p:elsewhere', data: encodeValue('from another host'), expiresAt: null, usedAt: Date.now() }]);
      await until(async () => {
        await cache.readThrough(ACCOUNT, ['p:elsewhere']);
        return cache.get(ACCOUNT, 'p:elsewhere') === 'from another host';
      });
      expect(JSON.stringify(lines)).not.toContain('secret-value-mine');
    });
  });
}
