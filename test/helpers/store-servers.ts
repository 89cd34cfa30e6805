import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, beforeAll, describe } from 'vitest';
import type { CacheStore } from '../../src/cache/store/cache-store.js';
import { DurableTelegramCache } from '../../src/cache/store/durable-cache.js';
import { openStore } from '../../src/cache/store/open-store.js';
import { PostgresStore } from '../../src/cache/store/postgres-store.js';
import { RedisStore } from '../../src/cache/store/redis-store.js';
import type { CacheStoreConfig } from '../../src/cache/store/store-config.js';
import { connectionUrl } from '../../src/config/postgres-url.js';
import type { CacheLogger } from '../../src/telemetry/logger.js';
import { TcpProxy } from './tcp-proxy.js';

export const POSTGRES_URL = 'postgres://127.0.0.1:5432/test';
export const REDIS_URL = 'redis://127.0.0.1:6379';

/** A name no other run uses: tests running in parallel on the shared servers never meet. */
export function uniqueName(stem: string): string {
  return `${stem}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export async function postgresUnavailable(url = POSTGRES_URL): Promise<string | null> {
  const client = new pg.Client({ connectionString: connectionUrl(url), connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return `PostgreSQL does not answer at ${url}: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function dropPostgresTable(table: string, url = POSTGRES_URL): Promise<void> {
  const client = new pg.Client({ connectionString: connectionUrl(url) });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS "${table}"`);
  } finally {
    await client.end();
  }
}

export async function redisUnavailable(url = REDIS_URL): Promise<string | null> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG' ? null : `Redis at ${url} did not answer PING`;
  } catch (error) {
    return `Redis does not answer at ${url}: ${(error as Error).message}`;
  } finally {
    probe.disconnect();
  }
}

export async function dropRedisPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** The store settings the server tests share: short write batches, no sweep during a test. */
const TEST_STORE: CacheStoreConfig = {
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

/** A fresh location on a server: the settings that reach it through a proxy, a store straight to it, and that proxy. */
export interface ProxiedPlace {
  config: CacheStoreConfig;
  direct: CacheStore;
  proxy: TcpProxy;
}

/** A store server the fault tests take away from one client (through a TCP proxy) without stopping it. */
export interface StoreServer {
  name: string;
  unavailable(): Promise<string | null>;
  /** A location no other run uses, behind a proxy of its own; `defer` takes what removes it again. */
  place(defer: (cleanup: () => Promise<void>) => void, settings?: Partial<CacheStoreConfig>): Promise<ProxiedPlace>;
}

async function proxied(port: number, defer: (cleanup: () => Promise<void>) => void): Promise<TcpProxy> {
  const proxy = await TcpProxy.start('127.0.0.1', port);
  defer(() => proxy.close());
  return proxy;
}

export const STORE_SERVERS: readonly StoreServer[] = [
  {
    name: 'PostgreSQL',
    unavailable: () => postgresUnavailable(),
    place: async (defer, settings) => {
      const proxy = await proxied(5432, defer);
      const table = uniqueName('tgfleet_cache_fault');
      defer(() => dropPostgresTable(table));
      const direct = await PostgresStore.open(POSTGRES_URL, table);
      defer(() => direct.close());
      return { config: { ...TEST_STORE, ...settings, driver: 'postgres', postgresUrl: `postgres://127.0.0.1:${proxy.port}/test`, postgresTable: table }, direct, proxy };
    },
  },
  {
    name: 'Redis',
    unavailable: () => redisUnavailable(),
    place: async (defer, settings) => {
      const proxy = await proxied(6379, defer);
      const prefix = `${uniqueName('tgfleet:cache-fault')}:`;
      defer(() => dropRedisPrefix(prefix));
      const direct = await RedisStore.open(REDIS_URL, prefix);
      defer(() => direct.close());
      return { config: { ...TEST_STORE, ...settings, driver: 'redis', redisUrl: `redis://127.0.0.1:${proxy.port}`, redisPrefix: prefix }, direct, proxy };
    },
  },
];

/**
 * Runs `tests` once per store server, each in a suite that fails with the reason when its server
 * does not answer; what a test hands `defer` is undone after it, last first.
 */
export function eachStoreServer(title: (server: StoreServer) => string, tests: (server: StoreServer, defer: (cleanup: () => Promise<void>) => void) => void): void {
  for (const server of STORE_SERVERS) {
    describe(title(server), () => {
      const cleanups: (() => Promise<void>)[] = [];
      beforeAll(async () => {
        const reason = await server.unavailable();
        if (reason !== null) throw new Error(`this ${server.name} test needs its server: ${reason}`);
      });
      afterEach(async () => {
        for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      });
      tests(server, (cleanup) => cleanups.push(cleanup));
    });
  }
}

/** The process cache over the store at `config`, opened as the runtime opens it, with the settings' batches and bounds. */
export function durableCacheOn(config: CacheStoreConfig, logger: CacheLogger): DurableTelegramCache {
  return new DurableTelegramCache({
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
}
