import type { Pool, PoolConfig } from 'pg';
import { connectionUrl } from '../../config/postgres-url.js';
import type { CacheStore, StoreBounds, StoredEntry, StoreTouch, StoreWrite } from './cache-store.js';

interface Row {
  key: string;
  data: Buffer;
  expires_at: number | null;
  used_at: number;
}

const entryOf = (row: Row): StoredEntry => ({ key: row.key, data: row.data, expiresAt: row.expires_at, usedAt: row.used_at });

/** A store server that stops answering fails a request after this long, so a lookup falls back to memory instead of hanging. */
const REQUEST_TIMEOUT_MS = 3000;

/**
 * The store for hosts that share one PostgreSQL. The pool holds one connection, so requests reach
 * the server in the order they were made: a delete sent after a write lands after it. A lost
 * connection is replaced on the next request; until then requests fail and the tier above goes
 * on from memory. The password comes from PGPASSWORD or ~/.pgpass, never from the URL.
 */
export class PostgresStore implements CacheStore {
  readonly driver = 'postgres' as const;
  requests = 0;
  private readonly table: string;
  private closed = false;

  private constructor(
    private readonly pool: Pool,
    table: string,
  ) {
    this.table = `"${table}"`;
  }

  /** `table` must be a plain lowercase identifier (the config checks it); it is created when missing. */
  static async open(url: string, table: string): Promise<PostgresStore> {
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(table)) throw new RangeError(`the cache table must be a lowercase SQL identifier of at most 41 letters, digits or _, got ${JSON.stringify(table)}`);
    const { default: pg } = await import('pg');
    const config: PoolConfig = { connectionString: connectionUrl(url), max: 1, connectionTimeoutMillis: REQUEST_TIMEOUT_MS, query_timeout: REQUEST_TIMEOUT_MS, idleTimeoutMillis: 0 };
    const pool = new pg.Pool(config);
    // A server that goes away takes the idle connection with it; the next request makes a new one.
    pool.on('error', () => {});
    const store = new PostgresStore(pool, table);
    try {
      await pool.query(`CREATE TABLE IF NOT EXISTS ${store.table} (
        account text NOT NULL, key text NOT NULL, data bytea NOT NULL, expires_at double precision, used_at double precision NOT NULL,
        PRIMARY KEY (account, key))`);
      await pool.query(`CREATE INDEX IF NOT EXISTS "${table}_recent" ON ${store.table} (account, used_at)`);
      await pool.query(`CREATE INDEX IF NOT EXISTS "${table}_used" ON ${store.table} (used_at)`);
    } catch (error) {
      await pool.end();
      throw error;
    }
    return store;
  }

  async getMany(account: string, keys: readonly string[], now: number): Promise<StoredEntry[]> {
    const { rows } = await this.query<Row>(`SELECT key, data, expires_at, used_at FROM ${this.table} WHERE account = $1 AND key = ANY($2::text[]) AND (expires_at IS NULL OR expires_at > $3)`, [
      account,
      keys,
      now,
    ]);
    return rows.map(entryOf);
  }

  async recent(account: string, limit: number, now: number): Promise<StoredEntry[]> {
    const { rows } = await this.query<Row>(`SELECT key, data, expires_at, used_at FROM ${this.table} WHERE account = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY used_at DESC LIMIT $3`, [
      account,
      now,
      limit,
    ]);
    return rows.map(entryOf);
  }

  async accounts(now: number): Promise<string[]> {
    const { rows } = await this.query<{ account: string }>(`SELECT DISTINCT account FROM ${this.table} WHERE expires_at IS NULL OR expires_at > $1`, [now]);
    return rows.map((row) => row.account);
  }

  /** One statement: the upsert and the touches as two parts of one query, keys of the batch left out of the touches. */
  async write(entries: readonly StoreWrite[], touches: readonly StoreTouch[] = []): Promise<void> {
    if (entries.length === 0 && touches.length === 0) return;
    const newest = new Map<string, StoreWrite>();
    for (const entry of entries) newest.set(`${entry.account}\u0000${entry.key}`, entry);
    const written = [...newest.values()];
    const touched = touches.flatMap((touch) => touch.keys.filter((key) => !newest.has(`${touch.account}\u0000${key}`)).map((key) => [touch.account, key, touch.usedAt] as const));
    await this.query(
      `WITH written AS (
         INSERT INTO ${this.table} (account, key, data, expires_at, used_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::double precision[], $5::double precision[])
         ON CONFLICT (account, key) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at, used_at = excluded.used_at
         RETURNING 1
       ), touched AS (
         UPDATE ${this.table} AS entry SET used_at = touch.used_at
         FROM unnest($6::text[], $7::text[], $8::double precision[]) AS touch(account, key, used_at)
         WHERE entry.account = touch.account AND entry.key = touch.key
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM written) AS written, (SELECT count(*) FROM touched) AS touched`,
      [
        written.map((entry) => entry.account),
        written.map((entry) => entry.key),
        written.map((entry) => Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength)),
        written.map((entry) => entry.expiresAt),
        written.map((entry) => entry.usedAt),
        touched.map(([account]) => account),
        touched.map(([, key]) => key),
        touched.map(([, , usedAt]) => usedAt),
      ],
    );
  }

  async delete(account: string, keys: readonly string[]): Promise<void> {
    await this.query(`DELETE FROM ${this.table} WHERE account = $1 AND key = ANY($2::text[])`, [account, keys]);
  }

  async deleteAccount(account: string): Promise<void> {
    await this.query(`DELETE FROM ${this.table} WHERE account = $1`, [account]);
  }

  async prune(now: number, bounds: StoreBounds): Promise<number> {
    const old = await this.query(`DELETE FROM ${this.table} WHERE (expires_at IS NOT NULL AND expires_at <= $1) OR used_at < $2`, [now, now - bounds.maxAgeMs]);
    const crowded = await this.query(
      `DELETE FROM ${this.table} WHERE (account, key) IN (
         SELECT account, key FROM ${this.table} ORDER BY used_at LIMIT GREATEST((SELECT count(*) FROM ${this.table}) - $1, 0))`,
      [bounds.maxEntries],
    );
    return (old.rowCount ?? 0) + (crowded.rowCount ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private query<R extends object = object>(text: string, values: unknown[]): Promise<{ rows: R[]; rowCount: number | null }> {
    this.requests++;
    return this.pool.query<R & import('pg').QueryResultRow>(text, values);
  }
}
