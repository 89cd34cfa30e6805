import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { SerializedError } from '../channel/remote-error.js';
import type { CacheStatsEvent, Reporter, TaskEndEvent, TaskErrorEvent } from './reporter.js';
import { silentLogger, type Logger } from './logger.js';

/**
 * Bumped whenever the table changes, so an older tgfleet refuses a file it would misread and a
 * newer one knows which migration to run. Kept in SQLite's own `user_version` header field.
 */
export const METRICS_SCHEMA_VERSION = 1;
export const TASK_METRICS_TABLE = 'task_cache_metrics';

const CREATE_SCHEMA = `
  CREATE TABLE ${TASK_METRICS_TABLE} (
    id INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    task TEXT NOT NULL,
    account TEXT NOT NULL,
    scope TEXT NOT NULL,
    warm_start INTEGER NOT NULL,
    per_account_max_entries INTEGER,
    hits INTEGER NOT NULL,
    misses INTEGER NOT NULL,
    sets INTEGER NOT NULL,
    invalidations INTEGER NOT NULL,
    evicted_capacity INTEGER NOT NULL,
    evicted_account_cap INTEGER NOT NULL,
    evicted_expired INTEGER NOT NULL,
    size INTEGER NOT NULL,
    was_invalidated INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'retried')),
    error TEXT,
    telegram_calls INTEGER
  )`;

const INSERT_ROW = `
  INSERT INTO ${TASK_METRICS_TABLE} (
    recorded_at, run_id, task_id, task, account, scope, warm_start, per_account_max_entries,
    hits, misses, sets, invalidations, evicted_capacity, evicted_account_cap, evicted_expired,
    size, was_invalidated, duration_ms, outcome, error, telegram_calls
  ) VALUES (
    @recordedAt, @runId, @taskId, @task, @account, @scope, @warmStart, @perAccountMaxEntries,
    @hits, @misses, @sets, @invalidations, @evictedCapacity, @evictedAccountCap, @evictedExpired,
    @size, @wasInvalidated, @durationMs, @outcome, @error, @telegramCalls
  )`;

/** `retried`: the attempt ended in a FLOOD_WAIT and the task was queued again; its lookups still count. */
export type TaskOutcomeName = 'ok' | 'error' | 'retried';

/** One finished task's use of the cache: its `cache:stats` payload plus how the task ended. */
export interface TaskCacheMetrics extends CacheStatsEvent {
  /** When the task ended, in milliseconds since the epoch. */
  recordedAt: number;
  outcome: TaskOutcomeName;
  /** Telegram's error text (FLOOD_WAIT_X, …) or the error's name; never the message, which may quote user data. */
  error: string | null;
  telegramCalls: number | null;
}

export interface MetricsStoreOptions {
  /** The SQLite file; its directory is created when missing. */
  path: string;
  logger?: Logger;
  /** Buffered rows that trigger a flush on the next turn of the event loop. */
  batchSize?: number;
  /** The longest a row waits in the buffer. */
  flushIntervalMs?: number;
  /** Tells apart the rows of separate runs, whose task ids both start at 1. */
  runId?: string;
  now?: () => number;
}

export interface AttachOptions {
  /** Telegram calls the task made, when the host can count them; stored as NULL otherwise. */
  telegramCalls?: (stats: CacheStatsEvent) => number | undefined;
}

type Statement = Database.Statement<[Record<string, unknown>]>;

/**
 * Per-task cache metrics in a SQLite file. Rows are buffered and written in one transaction per
 * batch, off the path of the task that produced them. Metrics are worth less than tasks: a file
 * that cannot be written costs its rows and a log line, never a task.
 */
export class MetricsStore {
  readonly path: string;
  readonly runId: string;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly now: () => number;
  private db: Database.Database | null = null;
  private insertBatch: ((rows: readonly TaskCacheMetrics[]) => void) | null = null;
  private buffer: TaskCacheMetrics[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private readonly detachers = new Set<() => void>();
  private failing = false;
  private dropped = 0;
  private closed = false;

  constructor(options: MetricsStoreOptions) {
    this.path = options.path;
    this.logger = options.logger ?? silentLogger;
    this.batchSize = Math.max(1, options.batchSize ?? 200);
    this.flushIntervalMs = options.flushIntervalMs ?? 2000;
    this.runId = options.runId ?? randomUUID();
    this.now = options.now ?? Date.now;
  }

  /** Rows lost to write failures since the store was created. */
  get droppedRows(): number {
    return this.dropped;
  }

  get bufferedRows(): number {
    return this.buffer.length;
  }

  /** Rows recorded after close are ignored: they come from tasks still ending while the host shuts down. */
  record(metrics: TaskCacheMetrics): void {
    if (this.closed) return;
    this.buffer.push(metrics);
    if (this.buffer.length >= this.batchSize) {
      this.immediate ??= setImmediate(() => this.flush()).unref();
    } else {
      this.timer ??= setTimeout(() => this.flush(), this.flushIntervalMs).unref();
    }
  }

  /**
   * Records a row for each task that reports `cache:stats` and then ends. The runtime emits the
   * stats just before the task's end or error event, so the pair is joined on the task id.
   * Returns a function that stops listening; `close()` also does.
   */
  attach(reporter: Reporter, options: AttachOptions = {}): () => void {
    const pending = new Map<string, CacheStatsEvent>();
    const onStats = (stats: CacheStatsEvent): void => {
      pending.set(stats.taskId, stats);
    };
    const settle = (event: TaskEndEvent, error: SerializedError | null, outcome: TaskOutcomeName): void => {
      const stats = pending.get(event.taskId);
      if (stats === undefined) return;
      pending.delete(event.taskId);
      this.record({
        ...stats,
        recordedAt: this.now(),
        outcome,
        error: error === null ? null : (error.errorMessage ?? error.name),
        telegramCalls: this.countCalls(options, stats),
      });
    };
    const onEnd = (event: TaskEndEvent): void => settle(event, null, 'ok');
    const onError = (event: TaskErrorEvent): void => settle(event, event.error, 'error');
    const onRetry = (event: TaskErrorEvent): void => settle(event, event.error, 'retried');
    reporter.on('cache:stats', onStats).on('task:end', onEnd).on('task:error', onError).on('task:retry', onRetry);
    const detach = (): void => {
      reporter.off('cache:stats', onStats).off('task:end', onEnd).off('task:error', onError).off('task:retry', onRetry);
      this.detachers.delete(detach);
    };
    this.detachers.add(detach);
    return detach;
  }

  /** Writes the buffered rows in one transaction and returns how many were written. */
  flush(): number {
    this.cancelScheduledFlush();
    if (this.buffer.length === 0) return 0;
    const rows = this.buffer;
    this.buffer = [];
    try {
      this.open()(rows);
    } catch (error) {
      this.writeFailed(error, rows.length);
      return 0;
    }
    if (this.failing) {
      this.failing = false;
      this.logger.info({ path: this.path, droppedRows: this.dropped }, 'writing task cache metrics again');
    }
    return rows.length;
  }

  /** Stops listening to every reporter, writes what is buffered and closes the file. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    for (const detach of [...this.detachers]) detach();
    this.flush();
    this.closed = true;
    this.closeDatabase();
  }

  private countCalls(options: AttachOptions, stats: CacheStatsEvent): number | null {
    if (options.telegramCalls === undefined) return null;
    try {
      return options.telegramCalls(stats) ?? null;
    } catch (error) {
      this.logger.warn({ err: error, taskId: stats.taskId }, 'could not count the Telegram calls of a task');
      return null;
    }
  }

  private cancelScheduledFlush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  /** Opens the file on first use, so a store that never records anything leaves no file behind. */
  private open(): (rows: readonly TaskCacheMetrics[]) => void {
    if (this.insertBatch !== null) return this.insertBatch;
    mkdirSync(dirname(this.path), { recursive: true });
    const db = new Database(this.path);
    try {
      db.pragma('journal_mode = WAL');
      // With WAL, NORMAL loses at most the last batches on power loss, never the file.
      db.pragma('synchronous = NORMAL');
      migrate(db, this.path);
      const insert: Statement = db.prepare(INSERT_ROW);
      const runId = this.runId;
      this.insertBatch = db.transaction((rows: readonly TaskCacheMetrics[]) => {
        for (const row of rows) insert.run(toParameters(row, runId));
      });
    } catch (error) {
      db.close();
      throw error;
    }
    this.db = db;
    return this.insertBatch;
  }

  /** Logs the first failure of a streak as an error and the rest at debug, so a lost disk does not flood the logs. */
  private writeFailed(error: unknown, rows: number): void {
    this.dropped += rows;
    const details = { err: error, path: this.path, rows, droppedRows: this.dropped };
    if (this.failing) {
      this.logger.debug(details, 'task cache metrics still cannot be written; rows dropped');
    } else {
      this.failing = true;
      this.logger.error(details, 'could not write task cache metrics; rows dropped, tasks unaffected');
    }
    // A handle whose file went away stays broken; the next flush opens the file afresh.
    this.closeDatabase();
  }

  private closeDatabase(): void {
    const db = this.db;
    this.db = null;
    this.insertBatch = null;
    if (db === null) return;
    try {
      db.close();
    } catch (error) {
      this.logger.warn({ err: error, path: this.path }, 'could not close the metrics file');
    }
  }
}

/** Creates the schema in a fresh file; `BEGIN IMMEDIATE` keeps two processes opening one new file from both creating it. */
function migrate(db: Database.Database, path: string): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === METRICS_SCHEMA_VERSION) return;
    if (version !== 0) {
      throw new Error(`${path} holds metrics schema version ${version}; this tgfleet writes version ${METRICS_SCHEMA_VERSION}`);
    }
    db.exec(CREATE_SCHEMA);
    db.pragma(`user_version = ${METRICS_SCHEMA_VERSION}`);
  }).immediate();
}

function toParameters(row: TaskCacheMetrics, runId: string): Record<string, unknown> {
  return {
    recordedAt: row.recordedAt,
    runId,
    taskId: row.taskId,
    task: row.task,
    account: row.account,
    scope: row.scope,
    warmStart: row.warmStart ? 1 : 0,
    perAccountMaxEntries: row.perAccountMaxEntries,
    hits: row.hits,
    misses: row.misses,
    sets: row.sets,
    invalidations: row.invalidations,
    evictedCapacity: row.evictions.capacity,
    evictedAccountCap: row.evictions.accountCap,
    evictedExpired: row.evictions.expired,
    size: row.size,
    wasInvalidated: row.wasInvalidated ? 1 : 0,
    durationMs: row.durationMs,
    outcome: row.outcome,
    error: row.error,
    telegramCalls: row.telegramCalls,
  };
}

export interface LogCacheMetricsOptions extends MetricsStoreOptions, AttachOptions {}

/**
 * The seed's `log_cache_metrics` helper: records every task the reporter sees into a SQLite file.
 * `close()` on the returned store stops listening and writes the last rows.
 */
export function logCacheMetrics(reporter: Reporter, options: LogCacheMetricsOptions): MetricsStore {
  const store = new MetricsStore(options);
  store.attach(reporter, options);
  return store;
}
