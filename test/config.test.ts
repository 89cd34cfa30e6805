import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { CONFIG_ENV, ConfigError, defaultConfig, loadConfig, parseConfig, type CacheConfig } from '../src/config/config.js';

const SHIPPED_CONFIG = fileURLToPath(new URL('../config.yaml', import.meta.url));

const tempDir = mkdtempSync(join(tmpdir(), 'tgfleet-config-'));
let fileCount = 0;

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

function writeConfig(text: string): string {
  const path = join(tempDir, `config-${++fileCount}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The config error thrown for a file, so a test can read its message and source. */
function errorFor(text: string): ConfigError {
  const path = writeConfig(text);
  try {
    loadConfig(path, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

/**
 * The seed's section 2 defaults plus the task size and TTLs, in milliseconds. The process cache is
 * bounded by bytes (128 MiB), with the seed's entry bound `max_size` left unset: 2000 entries
 * served eight accounts and starved a fleet of hundreds.
 */
const DEFAULT_CACHE: CacheConfig = {
  scope: 'task',
  policy: 'tinylfu',
  taskMaxSize: 500,
  processMaxBytes: 128 * 1024 * 1024,
  processMaxSize: null,
  cleanupIntervalMs: 60_000,
  perAccountMaxEntries: 400,
  entityTtlMs: 86_400_000,
  usernameTtlMs: 28_800_000,
  negativeTtlMs: 300_000,
  leaseTimeoutMs: 30_000,
  store: {
    driver: 'none',
    sqlitePath: 'tgfleet-cache.sqlite',
    postgresUrl: 'postgres://127.0.0.1:5432/test',
    postgresTable: 'tgfleet_cache',
    redisUrl: 'redis://127.0.0.1:6379',
    redisPrefix: 'tgfleet:cache:',
    writeIntervalMs: 1000,
    maxQueue: 100_000,
    maxAgeMs: 30 * 86_400_000,
    maxEntries: 10_000_000,
    cleanupIntervalMs: 600_000,
  },
};

describe('defaults', () => {
  test.each([
    ['an empty file', ''],
    ['a file of comments only', '# nothing configured yet\n'],
    ['an empty mapping', '{}\n'],
  ])('%s gets every default', (_, text) => {
    const loaded = loadConfig(writeConfig(text), {});
    expect(loaded.config.cache).toEqual(DEFAULT_CACHE);
    expect(loaded.config).toEqual(defaultConfig());
    expect(loaded.warnings).toEqual([]);
  });

  test('a partial file keeps its values and fills every missing one with its default', () => {
    const path = writeConfig('cache:\n  scope: process\n  process:\n    max_size: 10\nruntime:\n  workers: 3\n');
    const { config, warnings } = loadConfig(path, {});
    expect(config.cache).toEqual({ ...DEFAULT_CACHE, scope: 'process', processMaxSize: 10 });
    expect(config.runtime).toEqual({ ...defaultConfig().runtime, workers: 3 });
    expect(config.telegram).toEqual(defaultConfig().telegram);
    expect(warnings).toEqual([]);
  });

  test('a section whose keys are all commented out gets its defaults', () => {
    const { config } = loadConfig(writeConfig('cache:\n  # scope: process\naccounts:\n  # - phone: "+15550001111"\n'), {});
    expect(config.cache).toEqual(DEFAULT_CACHE);
    expect(config.accounts).toEqual([]);
  });

  test('seconds in the file become milliseconds in the config', () => {
    const { config } = parseConfig({ cache: { process: { cleanup_interval: 1.5 }, ttl: { entity: 2 } } });
    expect([config.cache.cleanupIntervalMs, config.cache.entityTtlMs]).toEqual([1_500, 2_000]);
  });
});

describe('the shipped config.yaml', () => {
  test('parses with no warnings and carries the documented cache settings', () => {
    const { config, warnings, source } = loadConfig(SHIPPED_CONFIG, {});
    expect(warnings).toEqual([]);
    expect(source).toBe(SHIPPED_CONFIG);
    expect(config.cache).toMatchObject({ scope: 'process', policy: 'tinylfu', processMaxBytes: 128 * 1024 * 1024, processMaxSize: null, cleanupIntervalMs: 60_000, perAccountMaxEntries: 400 });
  });
});

describe('bad values', () => {
  test.each([
    ['an unknown scope', 'cache:\n  scope: galaxy\n', 'cache.scope', '"galaxy"', /"task"\|"process"/],
    ['a zero size', 'cache:\n  process:\n    max_size: 0\n', 'cache.process.max_size', '0', />=1/],
    ['a fractional cap', 'cache:\n  per_account:\n    max_entries: 2.5\n', 'cache.per_account.max_entries', '2.5', /int/],
    ['a string for a number', 'cache:\n  task:\n    max_size: many\n', 'cache.task.max_size', '"many"', /expected number/],
    ['a negative interval', 'cache:\n  process:\n    cleanup_interval: -1\n', 'cache.process.cleanup_interval', '-1', />0/],
    ['a bad phone number', 'accounts:\n  - phone: "12"\n    api_id: 1\n    api_hash_env: H\n    session_env: S\n', 'accounts[0].phone', '"12"', /international form/],
    ['a null leaf', 'metrics:\n  sqlite:\n', 'metrics.sqlite', 'null', /expected string/],
  ])('%s: the error names the key path, the value given and what is allowed', (_, text, path, given, allowed) => {
    const error = errorFor(text);
    const line = error.message.split('\n').find((l) => l.includes(`${path}:`));
    expect(line, error.message).toBeDefined();
    expect(line).toContain(`(given: ${given})`);
    expect(line).toMatch(allowed);
  });

  test('every bad value is reported at once, with the file it came from', () => {
    const error = errorFor('cache:\n  scope: galaxy\n  task:\n    max_size: 0\n');
    expect(error.message).toMatch(/cache\.scope:.*\n.*cache\.task\.max_size:/);
    expect(error.message).toContain(error.source);
    expect(error.source).toContain(tempDir);
  });
});

describe('unknown keys', () => {
  test('each one gives a warning naming its path, and the known values still load', () => {
    const text = [
      'cache:',
      '  scop: process',
      '  process:',
      '    max_sise: 3',
      '    max_size: 9',
      'extra: 1',
      'accounts:',
      '  - phone: "+15550001111"',
      '    api_id: 1',
      '    api_hash_env: H',
      '    session_env: S',
      '    bogus: true',
    ].join('\n');
    const { config, warnings } = loadConfig(writeConfig(text), {});
    expect(warnings).toHaveLength(4);
    for (const key of ['cache.scop', 'cache.process.max_sise', 'extra', 'accounts[0].bogus']) {
      expect(
        warnings.some((w) => w.includes(`unknown key ${key} `)),
        key,
      ).toBe(true);
    }
    expect([config.cache.scope, config.cache.processMaxSize]).toEqual(['task', 9]);
  });
});

describe('choosing the file', () => {
  test(`${CONFIG_ENV} picks the file when no path is given`, () => {
    const path = writeConfig('cache:\n  scope: process\n');
    const loaded = loadConfig(undefined, { [CONFIG_ENV]: path });
    expect([loaded.source, loaded.config.cache.scope]).toEqual([path, 'process']);
  });

  test(`an explicit path wins over ${CONFIG_ENV}`, () => {
    const chosen = writeConfig('cache:\n  scope: process\n');
    const other = writeConfig('cache:\n  scope: task\n');
    expect(loadConfig(chosen, { [CONFIG_ENV]: other }).source).toBe(chosen);
  });

  test.each([
    ['as an argument', (missing: string) => loadConfig(missing, {})],
    [`through ${CONFIG_ENV}`, (missing: string) => loadConfig(undefined, { [CONFIG_ENV]: missing })],
  ])('a missing file named %s is an error naming the file', (_, load) => {
    const missing = join(tempDir, 'does-not-exist.yaml');
    expect(() => load(missing)).toThrow(ConfigError);
    expect(() => load(missing)).toThrow(`cannot read config file ${missing}`);
  });
});

describe('files that are not a config', () => {
  test.each([
    ['a list', '- cache\n- runtime\n', /must hold a mapping .* got a list/],
    ['a string', 'just some words\n', /must hold a mapping .* got string/],
    ['a number', '42\n', /must hold a mapping .* got number/],
  ])('YAML holding %s is an error', (_, text, message) => {
    expect(errorFor(text).message).toMatch(message);
  });

  test('invalid YAML is an error naming the file', () => {
    const error = errorFor('cache:\n  scope: [process\n');
    expect(error.message).toMatch(/is not valid YAML/);
    expect(error.message).toContain(error.source);
  });
});

describe('typos', () => {
  test('an unknown key names the known key it most likely meant, in warnings and beside errors', () => {
    expect(parseConfig({ runtime: { wokers: 3 } }).warnings).toEqual(['unknown key runtime.wokers (did you mean runtime.workers?) in (inline) is ignored']);
    expect(() => parseConfig({ cache: { scope: 'global', per_acount: { max_entries: 10 } } })).toThrow(/cache\.scope: .*\n {2}- unknown key cache\.per_acount \(did you mean cache\.per_account\?\)/);
  });
});

describe('secrets in config errors', () => {
  const API_HASH = '0123456789ABCDEF0123456789ABCDEF';

  test('a bad api_hash is named without being quoted back, here or inside the whole account', () => {
    const error = (() => {
      try {
        parseConfig({ accounts: [{ phone: '+15550001111', api_id: 1, api_hash: API_HASH }] });
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error('expected the account to be rejected');
    })();

    expect(error.message).toContain('accounts[0].api_hash: 32 lowercase hex digits (given: [redacted])');
    expect(error.message).toContain('accounts[0]: give exactly one of session_env and session_file (given: {"phone":"+15550001111","api_id":1,"api_hash":"[redacted]"})');
    expect(error.message).not.toContain(API_HASH);
  });
});
