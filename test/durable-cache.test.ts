import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DurableTelegramCache, type DurableCacheOptions } from '../src/cache/store/durable-cache.js';
import { SqliteStore } from '../src/cache/store/sqlite-store.js';
import { until } from './helpers/until.js';

const folder = mkdtempSync(join(tmpdir(), 'tgfleet-durable-'));
let files = 0;
const open: DurableTelegramCache[] = [];
const stores: Promise<SqliteStore>[] = [];

/** A long interval: anything that reaches the store before it went through at once. */
const NEVER_MS = 60_000;

function cacheOn(file: string, options: Partial<DurableCacheOptions> = {}): DurableTelegramCache {
  const store = options.store ?? SqliteStore.open(file);
  if (options.store === undefined) stores.push(store as Promise<SqliteStore>);
  const cache = new DurableTelegramCache({
    scope: 'process',
    maxSize: null,
    maxBytes: 1024 * 1024,
    perAccountMaxEntries: 400,
    defaultTtlMs: 60_000,
    store,
    writeIntervalMs: NEVER_MS,
    maxQueue: 10_000,
    bounds: { maxAgeMs: 86_400_000, maxEntries: 1_000_000 },
    storeCleanupIntervalMs: NEVER_MS,
    ...options,
  });
  open.push(cache);
  return cache;
}

/** The store as another process would see it: a second connection to the same file. */
function reader(file: string): Promise<SqliteStore> {
  const store = SqliteStore.open(file);
  stores.push(store);
  return store;
}

const freshFile = (): string => join(folder, `cache-${++files}.sqlite`);
const keysIn = async (store: SqliteStore, account: string, keys: string[]): Promise<string[]> => (await store.getMany(account, keys, Date.now())).map((entry) => entry.key).sort();

afterEach(async () => {
  for (const cache of open.splice(0)) await cache.close();
  for (const store of stores.splice(0)) await (await store).close();
});

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('the durable tier under the process cache', () => {
  it('writes behind: a write reaches the store with the next batch, not before', async () => {
    const file = freshFile();
    const cache = cacheOn(file, { writeIntervalMs: 20 });
    await cache.ready;
    const other = await reader(file);
    cache.set('+1', 'p:1', 'peer one');
    expect(cache.storeStats()).toMatchObject({ queued: 1, written: 0 });
    await until(async () => (await keysIn(other, '+1', ['p:1'])).length === 1);
    expect(cache.storeStats().written).toBe(1);
  });

  it('flushes what is queued when it closes', async () => {
    const file = freshFile();
    const cache = cacheOn(file);
    await cache.ready;
    cache.set('+1', 'p:1', 'peer one');
    cache.set('+1', 'p:2', 'peer two');
    cache.setAlias('+1', 'u:one', 'p:1');
    await cache.close();
    expect(await keysIn(await reader(file), '+1', ['p:1', 'p:2', 'u:one'])).toEqual(['p:1', 'p:2', 'u:one']);
  });

  it('deletes an invalidated key from the store at once, though memory had already evicted it', async () => {
    const file = freshFile();
    const first = cacheOn(file);
    await first.ready;
    first.set('+1', 'p:1', 'peer one');
    first.set('+1', 'p:2', 'peer two');
    await first.close();
    const cache = cacheOn(file, { maxBytes: null, maxSize: 1 });
    await cache.ready;
    const other = await reader(file);
    cache.delete('+1', 'p:1');
    cache.delete('+1', 'p:2');
    await until(async () => (await keysIn(other, '+1', ['p:1', 'p:2'])).length === 0);
  });

  it('writes a negative entry through at once, over the peer its name used to lead to', async () => {
    const file = freshFile();
    const cache = cacheOn(file, { isNegative: (value) => value === 'missing' });
    await cache.ready;
    cache.set('+1', 'p:waits', 'peer that waits');
    cache.set('+1', 'u:gone', 'missing');
    cache.delete('+1', 'p:old');
    const other = await reader(file);
    await until(async () => (await keysIn(other, '+1', ['u:gone'])).length === 1);
    // What is not urgent waits for its batch, so a task's rewrites of a key meet there.
    expect(await keysIn(other, '+1', ['p:waits'])).toEqual([]);
    expect(cache.storeStats()).toMatchObject({ written: 1, queued: 1 });
  });

  it('answers a miss from the store with one request for the keys missed in one turn, and promotes what it found', async () => {
    const file = freshFile();
    const first = cacheOn(file);
    await first.ready;
    for (let i = 0; i < 20; i++) {
      first.set('+1', `p:${i}`, `peer ${i}`);
      first.setAlias('+1', `u:name${i}`, `p:${i}`);
    }
    await first.close();
    const opening = SqliteStore.open(file);
    stores.push(opening);
    const store = await opening;
    const cache = cacheOn(file, { store: opening });
    await cache.ready;
    // Memory forgets what the warm start brought back: every key is now read on demand.
    cache.clear();
    const before = store.requests;
    const reads = ['p:3', 'p:4', 'p:5', 'p:404'].map((key) => cache.readThrough('+1', [key]));
    await Promise.all(reads);
    expect(store.requests - before).toBe(1);
    expect(cache.get('+1', 'p:4')).toBe('peer 4');
    // p:404 was never stored: the warm start saw every key the file holds, so it costs no read.
    expect(cache.storeStats()).toMatchObject({ storeHits: 3, storeMisses: 0 });
    expect(cache.readThrough('+1', ['p:3', 'p:4'])).toBeUndefined();
  });

  it('asks its own SQLite file nothing about keys it never held, and reads back what memory dropped', async () => {
    const opening = SqliteStore.open(freshFile());
    stores.push(opening);
    const store = await opening;
    const cache = cacheOn('', { store: opening, maxBytes: null, maxSize: 1, writeIntervalMs: 10 });
    await cache.ready;
    const before = store.requests;
    expect(cache.readThrough('+1', ['p:1', 'p:2'])).toBeUndefined();
    expect(store.requests).toBe(before);
    cache.set('+1', 'p:1', 'peer one');
    // A second entry pushes the first out of memory; the store may hold it, so its miss is read.
    cache.set('+1', 'p:2', 'peer two');
    expect(cache.has('+1', 'p:1')).toBe(false);
    await until(() => cache.storeStats().written === 2);
    const reading = store.requests;
    await cache.readThrough('+1', ['p:1', 'p:3']);
    expect(store.requests - reading).toBe(1);
    expect(cache.get('+1', 'p:1')).toBe('peer one');
    // An invalidated key is gone from the store too: its miss is not read either.
    cache.delete('+1', 'p:1');
    const invalidated = store.requests;
    expect(cache.readThrough('+1', ['p:1'])).toBeUndefined();
    expect(store.requests).toBe(invalidated);
  });

  it('follows a stored username to its peer, so the name is served as one entry after a restart', async () => {
    const file = freshFile();
    const first = cacheOn(file);
    await first.ready;
    first.set('+1', 'p:7', 'peer seven');
    first.setAlias('+1', 'u:seven', 'p:7');
    await first.close();
    const cache = cacheOn(file, { maxBytes: 600, maxSize: null });
    await cache.ready;
    cache.clear();
    await cache.readThrough('+1', ['u:seven']);
    expect(cache.get('+1', 'u:seven')).toBe('peer seven');
  });

  it('never serves one account another account’s stored entry', async () => {
    const file = freshFile();
    const first = cacheOn(file);
    await first.ready;
    first.set('+1', 'p:1', 'hash of +1');
    await first.close();
    const cache = cacheOn(file);
    await cache.ready;
    await cache.readThrough('+2', ['p:1']);
    expect(cache.get('+2', 'p:1')).toBeUndefined();
    expect(cache.get('+1', 'p:1')).toBe('hash of +1');
  });

  it('keeps expiry across a restart, on the wall clock whatever the cache clock’s scale', async () => {
    const file = freshFile();
    let simulated = 0;
    const first = cacheOn(file, { clock: () => simulated, timeScale: 0.01 });
    await first.ready;
    // 1000 s of the fast clock are ten real seconds: more than opening the store again takes.
    first.set('+1', 'p:1', 'short', 1_000_000);
    first.set('+1', 'p:2', 'forever', 0);
    await first.close();
    const [short, forever] = (await (await reader(file)).getMany('+1', ['p:1', 'p:2'], Date.now())).sort((a, b) => a.key.localeCompare(b.key));
    expect(short?.expiresAt).toBeGreaterThan(Date.now() + 5000);
    expect(short?.expiresAt).toBeLessThanOrEqual(Date.now() + 10_000);
    expect(forever?.expiresAt).toBeNull();
    simulated = 5_000_000;
    const cache = cacheOn(file, { clock: () => simulated, timeScale: 0.01 });
    await cache.ready;
    expect(cache.get('+1', 'p:2')).toBe('forever');
    expect(cache.get('+1', 'p:1')).toBe('short');
    // Less than ten real seconds are left, so less than 1000 s of the fast clock.
    simulated += 1_000_000;
    expect(cache.get('+1', 'p:1')).toBeUndefined();
  });

  it('loads each account’s most recently used entries at start, up to its share of the budget', async () => {
    const file = freshFile();
    const first = cacheOn(file);
    await first.ready;
    for (const account of ['+1', '+2']) for (let i = 0; i < 50; i++) first.set(account, `p:${i}`, `${account} peer ${i}`.padEnd(200, '.'));
    await first.close();
    const cache = cacheOn(file, { maxBytes: 20_000 });
    await cache.ready;
    const loaded = cache.storeStats().warmLoaded;
    expect(loaded).toBeGreaterThan(10);
    expect(loaded).toBeLessThan(100);
    for (const account of ['+1', '+2']) {
      expect(cache.accountStats(account).bytes).toBeLessThanOrEqual(10_000 + 1000);
      expect(cache.has(account, 'p:49')).toBe(true);
      expect(cache.has(account, 'p:0')).toBe(false);
    }
  });
});
