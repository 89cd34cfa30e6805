import { closeSync, existsSync, openSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type { StoreBounds, StoredEntry, StoreTouch, StoreWrite } from './cache-store.js';

const SCHEMA_VERSION = 1;

/** The codes with which SQLite says a file is not a database it can use: such a file is moved aside, never opened again as is. */
const UNUSABLE = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_PERM', 'SQLITE_READONLY', 'EACCES', 'EISDIR']);

/** A file whose check failed; it carries SQLite's verdict, never a row. */
export class UnusableStoreFileError extends Error {
  override readonly name = 'UnusableStoreFileError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

interface Row {
  key: string;
  data: Buffer;
  expires_at: number | null;
  used_at: number;
}

function entryOf(row: Row): StoredEntry {
  return { key: row.key, data: row.data, expiresAt: row.expires_at, usedAt: row.used_at };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

function isUnusable(error: unknown): boolean {
  const code = codeOf(error);
  return error instanceof UnusableStoreFileError || UNUSABLE.has(code) || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_CANTOPEN');
}

/** better-sqlite3 is native: it is loaded the first time a store is opened, never by a runtime that has none. */
function loadDriver(): typeof BetterSqlite3 {
  return createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
}

/** What `SqliteFile.open` did with a file SQLite could not use: the warning the store logs. */
export interface MovedAside {
  file: string;
  movedTo: string;
  code: string;
  reason: string;
}

/**
 * One SQLite file in WAL mode, so a reader never waits for the write-behind batch and a crash
 * loses at most the batch that was being written. The file holds access hashes, so it is created
 * readable by its owner only (SQLite gives its -wal and -shm files the database file's mode).
 * Every call is synchronous: this class runs on the store's own thread (sqlite-worker.ts), never
 * on the thread that answers lookups.
 */
export class SqliteFile {
  private readonly select: BetterSqlite3.Statement<[string, string, number], Row>;
  private readonly selectRecent: BetterSqlite3.Statement<[string, number, number], Row>;
  private readonly selectAccounts: BetterSqlite3.Statement<[number], { account: string }>;
  private readonly upsert: BetterSqlite3.Statement<[string, string, Buffer, number | null, number]>;
  private readonly touchKeys: BetterSqlite3.Statement<[number, string, string]>;
  private readonly deleteKeys: BetterSqlite3.Statement<[string, string]>;
  private readonly deleteAll: BetterSqlite3.Statement<[string]>;
  private readonly writeBatch: (entries: readonly StoreWrite[], touches: readonly StoreTouch[]) => void;
  private closed = false;

  private constructor(private readonly db: BetterSqlite3.Database) {
    this.select = db.prepare('SELECT key, data, expires_at, used_at FROM cache_entries WHERE account = ? AND key IN (SELECT value FROM json_each(?)) AND (expires_at IS NULL OR expires_at > ?)');
    this.selectRecent = db.prepare('SELECT key, data, expires_at, used_at FROM cache_entries WHERE account = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY used_at DESC LIMIT ?');
    this.selectAccounts = db.prepare('SELECT DISTINCT account FROM cache_entries WHERE expires_at IS NULL OR expires_at > ?');
    this.upsert = db.prepare(
      'INSERT INTO cache_entries (account, key, data, expires_at, used_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, key) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at, used_at = excluded.used_at',
    );
    this.touchKeys = db.prepare('UPDATE cache_entries SET used_at = ? WHERE account = ? AND key IN (SELECT value FROM json_each(?))');
    this.deleteKeys = db.prepare('DELETE FROM cache_entries WHERE account = ? AND key IN (SELECT value FROM json_each(?))');
    this.deleteAll = db.prepare('DELETE FROM cache_entries WHERE account = ?');
    this.writeBatch = db.transaction((entries: readonly StoreWrite[], touches: readonly StoreTouch[]) => {
      for (const entry of entries) this.upsert.run(entry.account, entry.key, Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength), entry.expiresAt, entry.usedAt);
      for (const touch of touches) this.touchKeys.run(touch.usedAt, touch.account, JSON.stringify(touch.keys));
    });
  }

  /**
   * Opens (or creates) the store at `path`. A file SQLite cannot use (not a database, damaged,
   * unreadable) is renamed to `<path>.unusable-<time>` with a warning and a fresh file takes its
   * place: the runtime starts cold instead of failing, and nothing is deleted. The caller logs
   * the move, since this thread has no logger.
   */
  static open(path: string): { file: SqliteFile; movedAside: MovedAside | null } {
    const Database = loadDriver();
    try {
      return { file: SqliteFile.openFile(Database, path), movedAside: null };
    } catch (error) {
      if (!isUnusable(error)) throw error;
      const movedTo = `${path}.unusable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      for (const suffix of ['', '-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, movedTo + suffix);
      return { file: SqliteFile.openFile(Database, path), movedAside: { file: path, movedTo, code: codeOf(error), reason: (error as Error).message } };
    }
  }

  private static openFile(Database: typeof BetterSqlite3, path: string): SqliteFile {
    if (!existsSync(path)) closeSync(openSync(path, 'wx', 0o600));
    let db: BetterSqlite3.Database | undefined;
    try {
      db = new Database(path, { fileMustExist: true });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new UnusableStoreFileError(`SQLite's check of ${path} failed: ${String(check)}`, 'SQLITE_CORRUPT');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`${path} was written by a newer tgfleet (store schema ${version}; this one reads ${SCHEMA_VERSION})`);
      db.exec(`CREATE TABLE IF NOT EXISTS cache_entries (
        account TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, expires_at REAL, used_at REAL NOT NULL,
        PRIMARY KEY (account, key)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS cache_entries_recent ON cache_entries (account, used_at);
        CREATE INDEX IF NOT EXISTS cache_entries_used ON cache_entries (used_at);
        PRAGMA user_version = ${SCHEMA_VERSION};`);
      return new SqliteFile(db);
    } catch (error) {
      db?.close();
      throw error;
    }
  }

  getMany(account: string, keys: readonly string[], now: number): StoredEntry[] {
    return this.select.all(account, JSON.stringify(keys), now).map(entryOf);
  }

  recent(account: string, limit: number, now: number): StoredEntry[] {
    return this.selectRecent.all(account, now, limit).map(entryOf);
  }

  accounts(now: number): string[] {
    return this.selectAccounts.all(now).map((row) => row.account);
  }

  write(entries: readonly StoreWrite[], touches: readonly StoreTouch[]): void {
    this.writeBatch(entries, touches);
  }

  delete(account: string, keys: readonly string[]): void {
    this.deleteKeys.run(account, JSON.stringify(keys));
  }

  deleteAccount(account: string): void {
    this.deleteAll.run(account);
  }

  prune(now: number, bounds: StoreBounds): number {
    const old = this.db.prepare('DELETE FROM cache_entries WHERE (expires_at IS NOT NULL AND expires_at <= ?) OR used_at < ?').run(now, now - bounds.maxAgeMs).changes;
    const count = (this.db.prepare('SELECT count(*) AS n FROM cache_entries').get() as { n: number }).n;
    const over = count - bounds.maxEntries;
    const crowded = over > 0 ? this.db.prepare('DELETE FROM cache_entries WHERE (account, key) IN (SELECT account, key FROM cache_entries ORDER BY used_at LIMIT ?)').run(over).changes : 0;
    return old + crowded;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
