import type { CacheLogger } from '../../telemetry/logger.js';
import type { CacheStore, StoreTouch, StoreWrite } from './cache-store.js';
import { encodeAlias, encodeValue } from './entry-codec.js';

/** A write waiting for its batch; encoded only when the batch goes, so a key rewritten meanwhile is encoded once. */
export interface PendingWrite {
  account: string;
  key: string;
  /** The value, or the key an alias points at. */
  value: unknown;
  alias: boolean;
  expiresAt: number | null;
  usedAt: number;
}

export interface WriteBehindOptions {
  intervalMs: number;
  /** Most writes waiting; beyond it the oldest are dropped and counted. */
  maxQueue: number;
  logger?: CacheLogger;
  now?: () => number;
}

export interface WriteBehindStats {
  queued: number;
  written: number;
  dropped: number;
  failedFlushes: number;
}

/** A server that went away is asked again after doubling waits, up to this long. */
const MAX_BACKOFF_MS = 30_000;

const idOf = (account: string, key: string): string => `${account}\u0000${key}`;

/** Everything queued, or only the deletes and the urgent writes (the rest waits for the batch, where rewrites of a key meet). */
type FlushScope = 'all' | 'urgent';

/**
 * Writes reach the store in batches, one per interval, so the hot path pays a map insert instead
 * of a round trip. Deletes and writes marked urgent go in the same turn: an invalidated peer must
 * be gone from the store before anything could read it back. A batch the store refused is kept
 * (newer writes of its keys win) and tried again after doubling waits; the queue is bounded, and
 * what falls off its old end is counted.
 */
export class WriteBehind {
  private writes = new Map<string, PendingWrite>();
  /** Writes among `writes` that go in the same turn, not with the next batch. */
  private readonly urgent = new Set<string>();
  private touches = new Map<string, Set<string>>();
  private touchCount = 0;
  /** Keys whose delete has not reached the store yet: a read of the store must not bring them back. */
  private readonly deletes = new Map<string, Set<string>>();
  private readonly accountDeletes = new Set<string>();
  private store: CacheStore | null = null;
  private timer: NodeJS.Timeout | null = null;
  private soon = false;
  private flushing: Promise<void> | null = null;
  /** What to send once the flush under way is done: a flush asked for meanwhile. */
  private again: FlushScope | null = null;
  private failures = 0;
  private closed = false;
  private readonly counts = { written: 0, dropped: 0, failedFlushes: 0 };
  private readonly now: () => number;

  constructor(private readonly options: WriteBehindOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts writing to `store`; what was queued before goes with the first batch. */
  attach(store: CacheStore): void {
    this.store = store;
    this.schedule(this.options.intervalMs);
    if (this.deletes.size > 0 || this.accountDeletes.size > 0) this.flushSoon();
  }

  get stats(): WriteBehindStats {
    return { queued: this.writes.size, ...this.counts };
  }

  queue(write: PendingWrite, urgent = false): void {
    if (this.closed) return;
    const id = idOf(write.account, write.key);
    this.writes.delete(id);
    this.writes.set(id, write);
    this.trim();
    if (!urgent) return;
    this.urgent.add(id);
    this.flushSoon();
  }

  /** The write of a key still waiting for its batch. */
  pending(account: string, key: string): PendingWrite | undefined {
    return this.writes.get(idOf(account, key));
  }

  /** That a task read the key: its recency in the store moves with the next batch. */
  touch(account: string, key: string): void {
    if (this.closed || this.touchCount >= this.options.maxQueue) return;
    let keys = this.touches.get(account);
    if (keys === undefined) {
      keys = new Set();
      this.touches.set(account, keys);
    }
    const size = keys.size;
    keys.add(key);
    this.touchCount += keys.size - size;
  }

  delete(account: string, keys: readonly string[]): void {
    if (this.closed) return;
    let gone = this.deletes.get(account);
    if (gone === undefined) {
      gone = new Set();
      this.deletes.set(account, gone);
    }
    for (const key of keys) {
      const id = idOf(account, key);
      this.writes.delete(id);
      this.urgent.delete(id);
      gone.add(key);
    }
    this.flushSoon();
  }

  deleteAccount(account: string): void {
    if (this.closed) return;
    for (const [id, write] of this.writes) {
      if (write.account !== account) continue;
      this.writes.delete(id);
      this.urgent.delete(id);
    }
    this.deletes.delete(account);
    this.touches.delete(account);
    this.accountDeletes.add(account);
    this.flushSoon();
  }

  /** Whether a delete of the key (or of its account) has yet to reach the store. */
  isDeleted(account: string, key: string): boolean {
    return this.accountDeletes.has(account) || this.deletes.get(account)?.has(key) === true;
  }

  /** Writes what is queued now (or only what is urgent); resolves when the store took it or refused it. */
  flush(scope: FlushScope = 'all'): Promise<void> {
    if (this.flushing !== null) {
      this.again = this.again === 'all' ? 'all' : scope;
      return this.flushing;
    }
    this.flushing = this.send(scope).finally(() => {
      this.flushing = null;
      const again = this.again;
      this.again = null;
      if (again !== null) void this.flush(again);
    });
    return this.flushing;
  }

  /** A last batch, then nothing more is taken. What the store still refuses is dropped with a count. */
  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    while (this.flushing !== null) await this.flushing;
    if (this.store !== null) await this.send('all');
    this.closed = true;
    const left = this.writes.size;
    if (left > 0) {
      this.counts.dropped += left;
      this.options.logger?.warn({ dropped: left, droppedInAll: this.counts.dropped }, 'the cache store did not take the last writes before shutdown; they are dropped');
    }
    this.writes.clear();
    this.urgent.clear();
    this.touches.clear();
  }

  private flushSoon(): void {
    if (this.soon || this.store === null) return;
    this.soon = true;
    queueMicrotask(() => {
      this.soon = false;
      void this.flush('urgent');
    });
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().finally(() => this.schedule(this.nextDelay()));
    }, delayMs);
    // Write-behind must never be what keeps a finished host alive; shutdown flushes what is left.
    this.timer.unref();
  }

  private nextDelay(): number {
    return this.failures === 0 ? this.options.intervalMs : Math.min(MAX_BACKOFF_MS, this.options.intervalMs * 2 ** this.failures);
  }

  private trim(): void {
    let over = this.writes.size - this.options.maxQueue;
    if (over <= 0) return;
    this.counts.dropped += over;
    for (const id of this.writes.keys()) {
      if (over-- <= 0) break;
      this.writes.delete(id);
    }
  }

  private async send(scope: FlushScope): Promise<void> {
    const store = this.store;
    if (store === null) return;
    const accountDeletes = [...this.accountDeletes];
    const deletes = [...this.deletes].map(([account, keys]) => [account, [...keys]] as const);
    const writes = scope === 'all' ? this.writes : this.takeUrgent();
    const touches = scope === 'all' ? this.touches : new Map<string, Set<string>>();
    this.urgent.clear();
    if (scope === 'all') {
      this.writes = new Map();
      this.touches = new Map();
      this.touchCount = 0;
    }
    try {
      for (const account of accountDeletes) {
        await store.deleteAccount(account);
        this.accountDeletes.delete(account);
      }
      for (const [account, keys] of deletes) {
        await store.delete(account, keys);
        const left = this.deletes.get(account);
        for (const key of keys) left?.delete(key);
        if (left?.size === 0) this.deletes.delete(account);
      }
      if (writes.size > 0 || touches.size > 0) {
        const usedAt = this.now();
        const batch: StoreWrite[] = [];
        for (const write of writes.values()) {
          batch.push({ account: write.account, key: write.key, data: write.alias ? encodeAlias(write.value as string) : encodeValue(write.value), expiresAt: write.expiresAt, usedAt: write.usedAt });
        }
        const touched: StoreTouch[] = [...touches].map(([account, keys]) => ({ account, keys: [...keys], usedAt }));
        await store.write(batch, touched);
        this.counts.written += batch.length;
      }
      if (this.failures > 0) this.options.logger?.info({ failedFlushes: this.failures, dropped: this.counts.dropped }, 'the cache store takes writes again');
      this.failures = 0;
    } catch (error) {
      this.requeue(writes);
      this.failures++;
      this.counts.failedFlushes++;
      if (this.failures === 1) {
        this.options.logger?.warn(
          { driver: store.driver, error: (error as Error).message, queued: this.writes.size },
          'the cache store refused a batch of writes: they are kept and tried again with growing waits',
        );
      }
      this.schedule(this.nextDelay());
    }
  }

  /** The urgent writes, out of the queue. */
  private takeUrgent(): Map<string, PendingWrite> {
    const taken = new Map<string, PendingWrite>();
    for (const id of this.urgent) {
      const write = this.writes.get(id);
      if (write === undefined) continue;
      taken.set(id, write);
      this.writes.delete(id);
    }
    return taken;
  }

  /** A refused batch goes back under the writes queued meanwhile, which are newer. */
  private requeue(refused: Map<string, PendingWrite>): void {
    const merged = new Map<string, PendingWrite>();
    for (const [id, write] of refused) if (!this.writes.has(id) && !this.isDeleted(write.account, write.key)) merged.set(id, write);
    for (const [id, write] of this.writes) merged.set(id, write);
    this.writes = merged;
    this.trim();
  }
}
