import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/cache/store/sqlite-store.js';
import { memoryLogger } from './helpers/runtime.js';

const NOW = 1_800_000_000_000;
const opened: SqliteStore[] = [];
const folders: string[] = [];

function folder(): string {
  const made = mkdtempSync(join(tmpdir(), 'tgfleet-store-file-'));
  folders.push(made);
  return made;
}

async function open(file: string, logger?: ReturnType<typeof memoryLogger>['logger']): Promise<SqliteStore> {
  const store = await SqliteStore.open(file, logger);
  opened.push(store);
  return store;
}

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

afterAll(() => {
  for (const made of folders) rmSync(made, { recursive: true, force: true });
});

describe('the SQLite store file', () => {
  it('is readable by its owner only, and so are its WAL and shared-memory files', async () => {
    const file = join(folder(), 'cache.sqlite');
    const store = await open(file);
    await store.write([{ account: '+1', key: 'p:1', data: Buffer.from('x'), expiresAt: null, usedAt: NOW }]);
    for (const name of [file, `${file}-wal`, `${file}-shm`]) expect((statSync(name).mode & 0o777).toString(8)).toBe('600');
  });

  it('moves a file that is not a database aside with a warning, keeps its bytes, and starts empty', async () => {
    const dir = folder();
    const file = join(dir, 'cache.sqlite');
    const garbage = Buffer.from('this is not a database, and it holds the secret value 12345'.repeat(100));
    writeFileSync(file, garbage);
    const { logger, lines } = memoryLogger();
    const store = await open(file, logger);
    expect(await store.accounts(NOW)).toEqual([]);
    const moved = readdirSync(dir).filter((name) => name.startsWith('cache.sqlite.unusable-'));
    expect(moved).toHaveLength(1);
    expect(readFileSync(join(dir, moved[0] as string)).equals(garbage)).toBe(true);
    const warning = lines.find((line) => line.level === 40);
    expect(warning?.msg).toMatch(/moved aside and the cache starts cold/);
    expect(warning?.code).toBe('SQLITE_NOTADB');
    expect(JSON.stringify(lines)).not.toContain('12345');
  });

  it('moves a database whose pages are damaged aside and starts empty', async () => {
    const dir = folder();
    const file = join(dir, 'cache.sqlite');
    const first = await open(file);
    await first.write(Array.from({ length: 2000 }, (_, i) => ({ account: '+1', key: `p:${i}`, data: Buffer.alloc(200, i % 251), expiresAt: null, usedAt: NOW + i })));
    await first.close();
    opened.splice(0);
    const bytes = readFileSync(file);
    // Page 1 (the header) stays, so SQLite opens the file; the b-tree pages after it are overwritten.
    bytes.fill(0xa5, 4096, bytes.length - 4096);
    writeFileSync(file, bytes);
    const { logger, lines } = memoryLogger();
    const store = await open(file, logger);
    expect(await store.getMany('+1', ['p:1'], NOW)).toEqual([]);
    expect(readdirSync(dir).some((name) => name.startsWith('cache.sqlite.unusable-'))).toBe(true);
    expect(lines.some((line) => line.level === 40 && String(line.code).startsWith('SQLITE_CORRUPT'))).toBe(true);
  });

  it('moves something it cannot open at all (a directory in its place) aside', async () => {
    const dir = folder();
    const file = join(dir, 'cache.sqlite');
    mkdirSync(file);
    writeFileSync(join(file, 'kept.txt'), 'kept');
    const { logger, lines } = memoryLogger();
    await open(file, logger);
    const moved = readdirSync(dir).find((name) => name.startsWith('cache.sqlite.unusable-'));
    expect(readFileSync(join(dir, moved as string, 'kept.txt'), 'utf8')).toBe('kept');
    expect(lines.some((line) => line.level === 40)).toBe(true);
  });
});
