import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { compiled } from '../../module-paths.js';
import type { CacheLogger } from '../../telemetry/logger.js';
import type { CacheStore, StoreBounds, StoredEntry, StoreTouch, StoreWrite } from './cache-store.js';
import type { MovedAside, SqliteFile } from './sqlite-file.js';

export { UnusableStoreFileError } from './sqlite-file.js';

type Calls = {
  [Op in 'getMany' | 'recent' | 'accounts' | 'write' | 'delete' | 'deleteAccount' | 'prune' | 'close']: { id: number; op: Op; args: Parameters<SqliteFile[Op]> };
};
/** A call of the store's thread; its answer carries the same id (0 is the answer to opening). */
export type SqliteRequest = Calls[keyof Calls];
export type SqliteReply = { id: number; result: unknown } | { id: number; error: { message: string; code: string | undefined } };

interface Waiting {
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

function errorOf(error: { message: string; code: string | undefined }): Error {
  return Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code });
}

/**
 * The embedded store: a SQLite file (see sqlite-file.ts) run on a thread of its own. Lookups are
 * answered on the main thread, and a synchronous SQLite call there (a write batch, the WAL
 * checkpoint a commit may set off, which waits on the disk) would hold every task's lookup
 * behind it; here the main thread only posts the batch. The thread keeps the process alive only
 * while a call is waiting for it.
 */
export class SqliteStore implements CacheStore {
  readonly driver = 'sqlite' as const;
  requests = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private gone: Error | null = null;
  private closing: Promise<void> | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: SqliteReply) => this.settle(reply));
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`the SQLite store's thread stopped (exit code ${code})`)));
  }

  /**
   * Opens (or creates) the store at `path`. A file SQLite cannot use (not a database, damaged,
   * unreadable) is renamed to `<path>.unusable-<time>` with a warning and a fresh file takes its
   * place: the runtime starts cold instead of failing, and nothing is deleted.
   */
  static async open(path: string, logger?: CacheLogger): Promise<SqliteStore> {
    const worker = new Worker(fileURLToPath(compiled('src/cache/store/sqlite-worker.js')), { workerData: { path } });
    const store = new SqliteStore(worker);
    const movedAside = (await store.call(0)) as MovedAside | null;
    if (movedAside !== null) {
      logger?.warn({ ...movedAside }, 'the cache store file could not be used: it was moved aside and the cache starts cold');
    }
    return store;
  }

  getMany(account: string, keys: readonly string[], now: number): Promise<StoredEntry[]> {
    return this.request({ op: 'getMany', args: [account, keys, now] }) as Promise<StoredEntry[]>;
  }

  recent(account: string, limit: number, now: number): Promise<StoredEntry[]> {
    return this.request({ op: 'recent', args: [account, limit, now] }) as Promise<StoredEntry[]>;
  }

  accounts(now: number): Promise<string[]> {
    return this.request({ op: 'accounts', args: [now] }) as Promise<string[]>;
  }

  async write(entries: readonly StoreWrite[], touches: readonly StoreTouch[] = []): Promise<void> {
    if (entries.length === 0 && touches.length === 0) return;
    await this.request({ op: 'write', args: [entries, touches] });
  }

  async delete(account: string, keys: readonly string[]): Promise<void> {
    await this.request({ op: 'delete', args: [account, keys] });
  }

  async deleteAccount(account: string): Promise<void> {
    await this.request({ op: 'deleteAccount', args: [account] });
  }

  prune(now: number, bounds: StoreBounds): Promise<number> {
    return this.request({ op: 'prune', args: [now, bounds] }) as Promise<number>;
  }

  /** Closes the file once the calls before it are answered, and ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.gone === null) await this.request({ op: 'close', args: [] }, false);
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private request(request: Omit<SqliteRequest, 'id'>, counted = true): Promise<unknown> {
    if (this.closing !== null && request.op !== 'close') return Promise.reject(new Error('the SQLite store is closed'));
    if (counted) this.requests++;
    const id = this.nextId++;
    const answer = this.call(id);
    this.worker.postMessage({ ...request, id });
    return answer;
  }

  /** The answer to call `id`; the thread is kept alive until it comes. */
  private call(id: number): Promise<unknown> {
    if (this.gone !== null) return Promise.reject(this.gone);
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private settle(reply: SqliteReply): void {
    const waiting = this.waiting.get(reply.id);
    if (waiting === undefined) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) this.worker.unref();
    if ('error' in reply) waiting.reject(errorOf(reply.error));
    else waiting.resolve(reply.result);
  }

  private fail(error: Error): void {
    this.gone ??= error;
    for (const waiting of this.waiting.values()) waiting.reject(error);
    this.waiting.clear();
  }
}
