import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { getCacheRegistry, resetCacheRegistry, TelegramCacheRegistry } from '../src/cache/registry.js';
import { TelegramCacheScope } from '../src/cache/telegram-cache.js';
import { CONFIG_ENV, defaultConfig } from '../src/config/config.js';

const ALICE = '+15550000001';
const BOB = '+15550000002';

const tempDir = mkdtempSync(join(tmpdir(), 'tgfleet-registry-'));

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

const created: TelegramCacheRegistry[] = [];

afterEach(() => {
  for (const reg of created.splice(0)) reg.shutdown();
  resetCacheRegistry();
  vi.unstubAllEnvs();
  vi.useRealTimers();
});

/** A registry with small, distinct sizes, so a test can tell which of them a cache was built with. */
function registry(scope: TelegramCacheScope): TelegramCacheRegistry {
  const reg = new TelegramCacheRegistry({
    ...defaultConfig().cache,
    scope,
    taskMaxSize: 11,
    processMaxSize: 22,
    perAccountMaxEntries: 7,
    cleanupIntervalMs: 1_000,
    entityTtlMs: 500,
  });
  created.push(reg);
  return reg;
}

/**
 * One pseudo task: look the entity up in the task's cache, resolve it through "Telegram" on a
 * miss, store it and release the cache, exactly as the runtime's task lifecycle does.
 */
function runTask(reg: TelegramCacheRegistry, taskId: number, account: string, username: string, resolve: (username: string) => string): { hit: boolean; entity: string } {
  const cache = reg.getCache(taskId);
  try {
    const cached = cache.get(account, username) as string | undefined;
    if (cached !== undefined) return { hit: true, entity: cached };
    const entity = resolve(username);
    cache.set(account, username, entity);
    return { hit: false, entity };
  } finally {
    reg.releaseCache(cache);
  }
}

function writeConfigFile(name: string, text: string): string {
  const path = join(tempDir, name);
  writeFileSync(path, text);
  return path;
}

describe('task scope', () => {
  test('every getCache() is a fresh task cache with the task max size and no cleanup timer', () => {
    vi.useFakeTimers();
    const reg = registry(TelegramCacheScope.TASK);
    const first = reg.getCache(1);
    const second = reg.getCache(2);
    expect(first).not.toBe(second);
    expect([first.scope, first.taskId, first.maxSize, first.perAccountMaxEntries, first.defaultTtlMs]).toEqual([TelegramCacheScope.TASK, 1, 11, null, 500]);
    expect(second.taskId).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('releaseCache() clears the task cache, entries and stats', () => {
    const reg = registry(TelegramCacheScope.TASK);
    const cache = reg.getCache(1);
    cache.set(ALICE, 'durov', 'entity');
    cache.get(ALICE, 'durov');
    reg.releaseCache(cache);
    expect(cache.size).toBe(0);
    expect(cache.stats()).toMatchObject({ hits: 0, sets: 0, accounts: {} });
  });
});

describe('process scope', () => {
  test('consecutive getCache() calls return the same instance, built with the process max size, per-account cap and config TTL', () => {
    const reg = registry(TelegramCacheScope.PROCESS);
    const cache = reg.getCache(1);
    expect(reg.getCache(2)).toBe(cache);
    expect(reg.getCache()).toBe(cache);
    expect([cache.scope, cache.taskId, cache.maxSize, cache.perAccountMaxEntries, cache.defaultTtlMs]).toEqual([TelegramCacheScope.PROCESS, null, 22, 7, 500]);
    expect(reg.currentProcessCache).toBe(cache);
  });

  test('the shared cache sweeps expired entries every cleanup interval', () => {
    vi.useFakeTimers();
    const cache = registry(TelegramCacheScope.PROCESS).getCache(1);
    cache.set(ALICE, 'durov', 'entity');
    vi.advanceTimersByTime(999);
    expect(cache.size).toBe(1);
    vi.advanceTimersByTime(1);
    expect(cache.size).toBe(0);
  });

  test('releaseCache() keeps the entries and the stats for the next task', () => {
    const reg = registry(TelegramCacheScope.PROCESS);
    const cache = reg.getCache(1);
    cache.set(ALICE, 'durov', 'entity');
    cache.get(ALICE, 'durov');
    reg.releaseCache(cache);
    expect(cache.get(ALICE, 'durov')).toBe('entity');
    expect(cache.stats()).toMatchObject({ hits: 2, sets: 1, size: 1 });
  });
});

describe('two pseudo tasks fetching the same entity', () => {
  test.each([
    [TelegramCacheScope.PROCESS, [false, true], 1],
    [TelegramCacheScope.TASK, [false, false], 2],
  ] as const)('in %s scope the second task hits: %j, Telegram is asked %i time(s)', (scope, hits, resolves) => {
    const reg = registry(scope);
    const resolve = vi.fn((username: string) => `entity:${username}`);
    const results = [runTask(reg, 1, ALICE, 'durov', resolve), runTask(reg, 2, ALICE, 'durov', resolve)];
    expect(results.map((r) => r.hit)).toEqual(hits);
    expect(results.map((r) => r.entity)).toEqual(['entity:durov', 'entity:durov']);
    expect(resolve).toHaveBeenCalledTimes(resolves);
  });

  test('in process scope a task of another account still misses', () => {
    const reg = registry(TelegramCacheScope.PROCESS);
    const resolve = vi.fn((username: string) => `entity:${username}`);
    runTask(reg, 1, ALICE, 'durov', resolve);
    expect(runTask(reg, 2, BOB, 'durov', resolve).hit).toBe(false);
    expect(resolve).toHaveBeenCalledTimes(2);
  });
});

describe('shutdown()', () => {
  test('stops the cleanup timer, clears the process cache and is idempotent', () => {
    vi.useFakeTimers();
    const reg = registry(TelegramCacheScope.PROCESS);
    const cache = reg.getCache(1);
    cache.set(ALICE, 'durov', 'entity');
    expect(vi.getTimerCount()).toBe(1);
    reg.shutdown();
    expect(vi.getTimerCount()).toBe(0);
    expect([cache.size, cache.stats().sets]).toEqual([0, 0]);
    expect(reg.currentProcessCache).toBeNull();
    expect(reg.isShutdown).toBe(true);
    expect(() => reg.shutdown()).not.toThrow();
  });

  test.each([TelegramCacheScope.PROCESS, TelegramCacheScope.TASK])('getCache() after it throws a clear error (%s scope)', (scope) => {
    const reg = registry(scope);
    reg.shutdown();
    expect(() => reg.getCache(1)).toThrow(/cache registry has been shut down/);
  });

  test('before any cache was asked for, it simply marks the registry closed', () => {
    const reg = registry(TelegramCacheScope.PROCESS);
    reg.shutdown();
    expect([reg.isShutdown, reg.currentProcessCache]).toEqual([true, null]);
  });
});

describe('the global registry', () => {
  test(`getCacheRegistry() reads the scope from the file named by ${CONFIG_ENV}, and keeps it until resetCacheRegistry()`, () => {
    const path = writeConfigFile('scope.yaml', 'cache:\n  scope: task\n  task:\n    max_size: 3\n');
    vi.stubEnv(CONFIG_ENV, path);
    resetCacheRegistry();
    const first = getCacheRegistry();
    expect(first.scope).toBe(TelegramCacheScope.TASK);
    expect(first.getCache(1).maxSize).toBe(3);
    expect(getCacheRegistry()).toBe(first);

    writeFileSync(path, 'cache:\n  scope: process\n  process:\n    max_size: 4\n  per_account:\n    max_entries: 2\n');
    expect(getCacheRegistry().scope).toBe(TelegramCacheScope.TASK);

    resetCacheRegistry();
    const second = getCacheRegistry();
    expect(second).not.toBe(first);
    expect(second.scope).toBe(TelegramCacheScope.PROCESS);
    expect([second.getCache(1).maxSize, second.getCache(2).perAccountMaxEntries]).toEqual([4, 2]);
    expect(first.isShutdown).toBe(true);
  });

  test('resetCacheRegistry(replacement) installs the given registry and shuts the previous one down', () => {
    vi.stubEnv(CONFIG_ENV, writeConfigFile('empty.yaml', ''));
    const previous = getCacheRegistry();
    const replacement = registry(TelegramCacheScope.PROCESS);
    resetCacheRegistry(replacement);
    expect(getCacheRegistry()).toBe(replacement);
    expect(previous.isShutdown).toBe(true);
  });

  test('a bad config file surfaces as an error from getCacheRegistry()', () => {
    vi.stubEnv(CONFIG_ENV, writeConfigFile('bad.yaml', 'cache:\n  scope: everywhere\n'));
    resetCacheRegistry();
    expect(() => getCacheRegistry()).toThrow(/cache\.scope/);
  });
});
