import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CacheStore } from '../src/cache/store/cache-store.js';
import { DurableTelegramCache } from '../src/cache/store/durable-cache.js';
import { encodeValue } from '../src/cache/store/entry-codec.js';
import { PostgresStore } from '../src/cache/store/postgres-store.js';
import { RedisStore } from '../src/cache/store/redis-store.js';
import { memoryLogger } from './helpers/runtime.js';
import { dropPostgresTable, dropRedisPrefix, POSTGRES_URL, postgresUnavailable, REDIS_URL, redisUnavailable, uniqueName } from './helpers/store-servers.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { until } from './helpers/until.js';

interface Server {
  name: string;
  unavailable(): Promise<string | null>;
  port: number;
  /** A store on `port` (the proxy's), and one straight to the server, at a fresh location. */
  open(port: number): Promise<{ viaProxy: CacheStore; direct: CacheStore; drop(): Promise<void> }>;
}

const servers: Server[] = [
  {
    name: 'PostgreSQL',
    unavailable: () => postgresUnavailable(),
    port: 5432,
    open: async (port) => {
      const table = uniqueName('tgfleet_cache_loss');
      const direct = await PostgresStore.open(POSTGRES_URL, table);
      const viaProxy = await PostgresStore.open(`postgres://127.0.0.1:${port}/test`, table);
      return { viaProxy, direct, drop: () => dropPostgresTable(table) };
    },
  },
  {
    name: 'Redis',
    unavailable: () => redisUnavailable(),
    port: 6379,
    open: async (port) => {
      const prefix = `${uniqueName('tgfleet:cache-loss')}:`;
      const direct = await RedisStore.open(REDIS_URL, prefix);
      const viaProxy = await RedisStore.open(`redis://127.0.0.1:${port}`, prefix);
      return { viaProxy, direct, drop: () => dropRedisPrefix(prefix) };
    },
  },
];

const ACCOUNT = '+15550000001';

for (const server of servers) {
  describe(`a ${server.name} store that goes away mid-run`, () => {
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      const reason = await server.unavailable();
      if (reason !== null) throw new Error(`the ${server.name} server-loss test needs its server: ${reason}`);
    });

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('serves from memory meanwhile, retries and bounds the writes, and reads again once it is back', async () => {
      const proxy = await TcpProxy.start('127.0.0.1', server.port);
      cleanups.push(() => proxy.close());
      const { viaProxy, direct, drop } = await server.open(proxy.port);
      cleanups.push(drop, () => direct.close());
      const { logger, lines } = memoryLogger();
      const cache = new DurableTelegramCache({
        scope: 'process',
        maxSize: null,
        maxBytes: 16 * 1024 * 1024,
        defaultTtlMs: 0,
        store: Promise.resolve(viaProxy),
        writeIntervalMs: 20,
        maxQueue: 100,
        bounds: { maxAgeMs: 86_400_000, maxEntries: 1_000_000 },
        storeCleanupIntervalMs: 60_000,
        logger,
      });
      cleanups.push(() => cache.close());
      await cache.ready;
      cache.set(ACCOUNT, 'p:kept', 'secret-value-kept');
      await until(() => cache.storeStats().written === 1);

      proxy.cut();
      // Tasks go on: memory answers, and a miss the store cannot answer is only a miss.
      expect(cache.get(ACCOUNT, 'p:kept')).toBe('secret-value-kept');
      await cache.readThrough(ACCOUNT, ['p:elsewhere']);
      expect(cache.has(ACCOUNT, 'p:elsewhere')).toBe(false);
      expect(cache.storeStats().failedReads).toBe(1);
      for (let i = 0; i < 150; i++) cache.set(ACCOUNT, `p:${i}`, `secret-value-${i}`);
      await until(() => cache.storeStats().failedFlushes >= 2);
      const away = cache.storeStats();
      expect(away.dropped).toBe(50);
      expect(away.queued).toBe(100);

      await direct.write([{ account: ACCOUNT, key: 'p:elsewhere', data: encodeValue('secret-value-elsewhere'), expiresAt: null, usedAt: Date.now() }]);
      proxy.restore();
      await until(() => cache.storeStats().queued === 0 && cache.storeStats().written === 101);
      const newest = await direct.getMany(ACCOUNT, ['p:49', 'p:50', 'p:149'], Date.now());
      expect(newest.map((entry) => entry.key).sort()).toEqual(['p:149', 'p:50']);
      await until(async () => {
        await cache.readThrough(ACCOUNT, ['p:elsewhere']);
        return cache.has(ACCOUNT, 'p:elsewhere');
      });
      expect(cache.get(ACCOUNT, 'p:elsewhere')).toBe('secret-value-elsewhere');
      expect(lines.some((line) => line.level === 40 && String(line.msg).includes('refused a batch'))).toBe(true);
      expect(JSON.stringify(lines)).not.toContain('secret-value');
    });
  });
}
