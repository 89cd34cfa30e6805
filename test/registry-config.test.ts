import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { TelegramCacheRegistry, type TelegramCacheRegistryConfig } from '../src/cache/registry.js';
import { ConfigError, defaultConfig, loadConfig, parseConfig } from '../src/config/config.js';

const ALICE = '+15550000001';
const tempDir = mkdtempSync(join(tmpdir(), 'tgfleet-registry-config-'));
const created: TelegramCacheRegistry[] = [];

afterEach(async () => {
  for (const registry of created.splice(0)) await registry.shutdown();
});
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

function registry(config?: TelegramCacheRegistryConfig): TelegramCacheRegistry {
  const made = new TelegramCacheRegistry(config);
  created.push(made);
  return made;
}

/** The lines the config loader reports for the same `cache:` section read from a file. */
function loaderLines(section: unknown): string[] {
  try {
    parseConfig({ cache: section }, 'config.yaml');
  } catch (error) {
    return (error as Error).message.split('\n').slice(1);
  }
  throw new Error(`the loader accepted ${JSON.stringify(section)}`);
}

describe('a registry built from the cache: section as config.yaml holds it', () => {
  test("{ scope: 'process' } takes the loader's defaults for everything else and serves one shared cache", () => {
    const reg = registry({ scope: 'process' });
    expect(reg.scope).toBe('process');
    expect(reg.config).toEqual({ ...defaultConfig().cache, scope: 'process' });
    const cache = reg.getCache('t1');
    cache.set(ALICE, 'user:1', { id: 1 });
    expect(reg.getCache('t2')).toBe(cache);
    expect(reg.getCache('t2').get(ALICE, 'user:1')).toEqual({ id: 1 });
  });

  test('nested snake_case keys, any subset, land on their loaded names; the rest keep their defaults', () => {
    const defaults = defaultConfig().cache;
    expect(registry({ scope: 'process', process: { max_bytes: 2e6 } }).config).toEqual({ ...defaults, scope: 'process', processMaxBytes: 2e6 });
    expect(registry({ ttl: { entity: 60 }, per_account: { max_entries: 9 }, store: { driver: 'none' } }).config).toEqual({ ...defaults, entityTtlMs: 60_000, perAccountMaxEntries: 9 });
    expect(
      registry({ task: { max_size: 3 } })
        .getCache('t1')
        .stats().maxSize,
    ).toBe(3);
  });

  test('no config at all is the defaults, as an empty config.yaml gives them', () => {
    expect(registry().config).toEqual(defaultConfig().cache);
  });

  test.each([
    ['a byte budget below its range', { scope: 'process', process: { max_bytes: 5 } }, ['cache.process.max_bytes', 'allowed: ', '(given: 5)']],
    ['an unknown scope', { scope: 'everywhere' }, ['cache.scope', '"task"', '"process"', '(given: "everywhere")']],
    ['a negative TTL', { ttl: { username: -1 } }, ['cache.ttl.username', 'allowed: ', '(given: -1)']],
    ['a store under task scope', { store: { driver: 'sqlite' } }, ['cache.store.driver', 'set cache.scope to process']],
  ])("%s gets the loader's own message, naming the key, the value and what is allowed", (_, section, words) => {
    const lines = loaderLines(section);
    let thrown: unknown;
    try {
      registry(section as TelegramCacheRegistryConfig);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    for (const line of lines) expect((thrown as Error).message).toContain(line.trim());
    for (const word of words) expect((thrown as Error).message).toContain(word);
  });

  test('an unknown key is refused with the key it probably meant, not left to a silent default', () => {
    expect(() => registry({ scop: 'process' } as TelegramCacheRegistryConfig)).toThrow('unknown key cache.scop (did you mean cache.scope?)');
    expect(() => registry({ process: { maxBytes: 1e6 } } as TelegramCacheRegistryConfig)).toThrow(/unknown key cache\.process\.maxBytes/);
  });
});

describe('a registry built from the loaded config', () => {
  test('loadConfig() as it returns, its config, and its config.cache all give the file’s cache settings', () => {
    const file = join(tempDir, 'config.yaml');
    writeFileSync(file, 'cache:\n  scope: process\n  policy: lru\n  process:\n    max_size: 1234\n');
    const loaded = loadConfig(file);
    const expected = { ...defaultConfig().cache, scope: 'process', policy: 'lru', processMaxSize: 1234 };
    expect(loaded.config.cache).toEqual(expected);
    for (const given of [loaded, loaded.config, loaded.config.cache]) expect(registry(given).config).toEqual(expected);
    expect(registry(loaded).getCache().stats().maxSize).toBe(1234);
  });

  test('a camelCase config with keys missing is refused naming them, instead of failing later in the cache', () => {
    const attempt = () => registry({ scope: 'process', processMaxBytes: 1e6 } as TelegramCacheRegistryConfig);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/lacks taskMaxSize, processMaxSize, .*entityTtlMs.*store/);
  });
});
