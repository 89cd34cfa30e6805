import type { ChainableCommander, Redis } from 'ioredis';
import type { CacheStore, StoreBounds, StoredEntry, StoreTouch, StoreWrite } from './cache-store.js';

/** A store server that stops answering fails a request after this long, so a lookup falls back to memory instead of hanging. */
const REQUEST_TIMEOUT_MS = 3000;
/** Eight bytes of expiry (NaN for none) before the entry's data. */
const HEADER = 8;

/**
 * The store for hosts that share one Redis. Every name is built from the account's length and
 * the account, then the key, so no key of one account can be spelt as a key of another. An
 * entry is a string (expiry, then data) that Redis itself expires; sorted sets keep recency per
 * account and for the whole store, and expiry times for the sweep. Commands fail at once while
 * the connection is down (no offline queue): the tier above goes on from memory, and the client
 * reconnects by itself. The password, if any, comes from REDIS_PASSWORD, never from the URL.
 */
export class RedisStore implements CacheStore {
  readonly driver = 'redis' as const;
  requests = 0;
  private readonly usedKey: string;
  private readonly expiresKey: string;
  private readonly accountsKey: string;

  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.usedKey = `${prefix}used`;
    this.expiresKey = `${prefix}expires`;
    this.accountsKey = `${prefix}accounts`;
  }

  static async open(url: string, prefix: string): Promise<RedisStore> {
    const { Redis } = await import('ioredis');
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: REQUEST_TIMEOUT_MS,
      commandTimeout: REQUEST_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 5000),
      ...(process.env.REDIS_PASSWORD !== undefined && { password: process.env.REDIS_PASSWORD }),
    });
    // Connection errors reach the callers of the commands that failed; the event itself needs no handler to crash the process.
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw error;
    }
    return new RedisStore(redis, prefix);
  }

  async getMany(account: string, keys: readonly string[], now: number): Promise<StoredEntry[]> {
    if (keys.length === 0) return [];
    this.requests++;
    const replies = await this.redis
      .pipeline()
      .mgetBuffer(...keys.map((key) => this.entryKey(account, key)))
      .zmscore(this.recentKey(account), ...keys)
      .exec();
    const values = this.reply<(Buffer | null)[]>(replies, 0);
    const scores = this.reply<(string | null)[]>(replies, 1);
    const found: StoredEntry[] = [];
    keys.forEach((key, index) => {
      const entry = this.entryOf(key, values[index] ?? null, Number(scores[index] ?? 0), now);
      if (entry !== undefined) found.push(entry);
    });
    return found;
  }

  async recent(account: string, limit: number, now: number): Promise<StoredEntry[]> {
    this.requests++;
    const ranked = await this.redis.zrevrange(this.recentKey(account), 0, limit - 1, 'WITHSCORES');
    if (ranked.length === 0) return [];
    const keys = ranked.filter((_, index) => index % 2 === 0);
    this.requests++;
    const values = await this.redis.mgetBuffer(...keys.map((key) => this.entryKey(account, key)));
    const found: StoredEntry[] = [];
    keys.forEach((key, index) => {
      const entry = this.entryOf(key, values[index] ?? null, Number(ranked[index * 2 + 1]), now);
      if (entry !== undefined) found.push(entry);
    });
    return found;
  }

  /** Accounts with entries; one whose entries all expired is listed until the next sweep removes them. */
  async accounts(): Promise<string[]> {
    this.requests++;
    const accounts = await this.redis.smembers(this.accountsKey);
    if (accounts.length === 0) return [];
    this.requests++;
    const pipeline = this.redis.pipeline();
    for (const account of accounts) pipeline.zcard(this.recentKey(account));
    const counts = await pipeline.exec();
    return accounts.filter((_, index) => this.reply<number>(counts, index) > 0);
  }

  async write(entries: readonly StoreWrite[], touches: readonly StoreTouch[] = []): Promise<void> {
    if (entries.length === 0 && touches.length === 0) return;
    const batch = this.redis.multi();
    for (const entry of entries) {
      const value = Buffer.allocUnsafe(HEADER + entry.data.byteLength);
      value.writeDoubleBE(entry.expiresAt ?? Number.NaN, 0);
      value.set(entry.data, HEADER);
      const name = this.entryKey(entry.account, entry.key);
      const member = this.member(entry.account, entry.key);
      if (entry.expiresAt === null) {
        batch.set(name, value);
        batch.zrem(this.expiresKey, member);
      } else {
        batch.set(name, value, 'PXAT', Math.max(1, Math.ceil(entry.expiresAt)));
        batch.zadd(this.expiresKey, entry.expiresAt, member);
      }
      batch.zadd(this.recentKey(entry.account), entry.usedAt, entry.key);
      batch.zadd(this.usedKey, entry.usedAt, member);
      batch.sadd(this.accountsKey, entry.account);
    }
    for (const touch of touches) {
      for (const key of touch.keys) {
        batch.zadd(this.recentKey(touch.account), 'XX', touch.usedAt, key);
        batch.zadd(this.usedKey, 'XX', touch.usedAt, this.member(touch.account, key));
      }
    }
    await this.run(batch);
  }

  async delete(account: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const batch = this.redis.multi();
    this.remove(batch, account, keys);
    await this.run(batch);
  }

  async deleteAccount(account: string): Promise<void> {
    this.requests++;
    const keys = await this.redis.zrange(this.recentKey(account), 0, -1);
    const batch = this.redis.multi();
    this.remove(batch, account, keys);
    batch.del(this.recentKey(account));
    batch.srem(this.accountsKey, account);
    await this.run(batch);
  }

  async prune(now: number, bounds: StoreBounds): Promise<number> {
    this.requests++;
    const [expired, stale, count] = await this.redis
      .pipeline()
      .zrangebyscore(this.expiresKey, '-inf', `(${now}`)
      .zrangebyscore(this.usedKey, '-inf', `(${now - bounds.maxAgeMs}`)
      .zcard(this.usedKey)
      .exec()
      .then((replies) => [this.reply<string[]>(replies, 0), this.reply<string[]>(replies, 1), this.reply<number>(replies, 2)] as const);
    const gone = new Set([...expired, ...stale]);
    // Every entry has a member in the recency set, so what stays is its size less what goes already.
    let over = count - gone.size - bounds.maxEntries;
    if (over > 0) {
      this.requests++;
      for (const member of await this.redis.zrange(this.usedKey, 0, over + gone.size - 1)) {
        if (over === 0) break;
        if (gone.has(member)) continue;
        gone.add(member);
        over--;
      }
    }
    if (gone.size === 0) return 0;
    const batch = this.redis.multi();
    for (const member of gone) {
      const { account, key } = this.parseMember(member);
      this.remove(batch, account, [key]);
    }
    await this.run(batch);
    return gone.size;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private remove(batch: ChainableCommander, account: string, keys: readonly string[]): void {
    for (const key of keys) {
      const member = this.member(account, key);
      batch.del(this.entryKey(account, key));
      batch.zrem(this.recentKey(account), key);
      batch.zrem(this.usedKey, member);
      batch.zrem(this.expiresKey, member);
    }
  }

  private async run(batch: ChainableCommander): Promise<void> {
    this.requests++;
    const replies = await batch.exec();
    if (replies === null) throw new Error('Redis discarded the transaction');
    for (const [error] of replies) if (error !== null) throw error;
  }

  private reply<T>(replies: [Error | null, unknown][] | null, index: number): T {
    const reply = replies?.[index];
    if (reply === undefined) throw new Error('Redis gave no answer to a pipelined command');
    if (reply[0] !== null) throw reply[0];
    return reply[1] as T;
  }

  private entryOf(key: string, value: Buffer | null, usedAt: number, now: number): StoredEntry | undefined {
    if (value === null || value.length < HEADER) return undefined;
    const expiry = value.readDoubleBE(0);
    const expiresAt = Number.isNaN(expiry) ? null : expiry;
    if (expiresAt !== null && expiresAt <= now) return undefined;
    return { key, data: value.subarray(HEADER), expiresAt, usedAt };
  }

  /** The account, spelt with its length first, so that no account and key can run into another's. */
  private scope(account: string): string {
    return `${account.length}:${account}`;
  }

  private entryKey(account: string, key: string): string {
    return `${this.prefix}e:${this.scope(account)}:${key}`;
  }

  private recentKey(account: string): string {
    return `${this.prefix}r:${this.scope(account)}`;
  }

  private member(account: string, key: string): string {
    return `${this.scope(account)}:${key}`;
  }

  private parseMember(member: string): { account: string; key: string } {
    const colon = member.indexOf(':');
    const length = Number(member.slice(0, colon));
    return { account: member.slice(colon + 1, colon + 1 + length), key: member.slice(colon + 2 + length) };
  }
}
