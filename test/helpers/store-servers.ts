import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { connectionUrl } from '../../src/config/postgres-url.js';

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
