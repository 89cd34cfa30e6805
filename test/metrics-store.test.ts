import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TelegramCacheScope } from '../src/cache/telegram-cache.js';
import { Reporter } from '../src/telemetry/reporter.js';
import { createLogger } from '../src/telemetry/logger.js';
import { logCacheMetrics, METRICS_SCHEMA_VERSION, TASK_METRICS_TABLE } from '../src/telemetry/metrics-store.js';
import { MetricsFileError, renderMetricsSummary, summarizeMetrics } from '../src/telemetry/metrics-summary.js';

interface FakeTask {
  taskId: string;
  account: string;
  scope?: TelegramCacheScope;
  hits?: number;
  misses?: number;
  error?: string;
}

/** What the runtime emits for one finished task: its cache stats, then its end or error. */
function emitTask(reporter: Reporter, task: FakeTask): void {
  const base = { taskId: task.taskId, account: task.account, task: 'resolve-peers', durationMs: 12.5 };
  reporter.emit('cache:stats', {
    ...base,
    scope: task.scope ?? 'process',
    warmStart: true,
    perAccountMaxEntries: 500,
    wasInvalidated: false,
    hits: task.hits ?? 3,
    misses: task.misses ?? 1,
    sets: 1,
    invalidations: 0,
    evictions: { capacity: 0, accountCap: 2, expired: 1 },
    size: 40,
  });
  if (task.error === undefined) reporter.emit('task:end', base);
  else reporter.emit('task:error', { ...base, error: { name: 'FloodWaitError', message: 'wait', errorMessage: task.error, code: 420, seconds: 30 } });
}

function memoryLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  const lines = (): Record<string, unknown>[] =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines };
}

function readRows(path: string): Record<string, unknown>[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(`SELECT * FROM ${TASK_METRICS_TABLE} ORDER BY id`).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 2, 10, 15);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tgfleet-metrics-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('logCacheMetrics', () => {
  it('buffers a batch of tasks and writes them, with their outcome, in one flush', () => {
    const path = join(dir, 'metrics.sqlite');
    const reporter = new Reporter();
    const store = logCacheMetrics(reporter, { path, now: () => T0, telegramCalls: (stats) => stats.misses });
    emitTask(reporter, { taskId: '1', account: '+100' });
    emitTask(reporter, { taskId: '2', account: '+200', error: 'FLOOD_WAIT_30' });

    expect(store.bufferedRows).toBe(2);
    expect(store.flush()).toBe(2);
    const rows = readRows(path);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      recorded_at: T0,
      run_id: store.runId,
      task_id: '1',
      task: 'resolve-peers',
      account: '+100',
      scope: 'process',
      warm_start: 1,
      per_account_max_entries: 500,
      hits: 3,
      misses: 1,
      sets: 1,
      invalidations: 0,
      evicted_capacity: 0,
      evicted_account_cap: 2,
      evicted_expired: 1,
      size: 40,
      was_invalidated: 0,
      duration_ms: 12.5,
      outcome: 'ok',
      error: null,
      telegram_calls: 1,
    });
    expect(rows[1]).toMatchObject({ task_id: '2', outcome: 'error', error: 'FLOOD_WAIT_30' });
    store.close();
  });

  it('flushes on the timer, on batch size, and on close', async () => {
    const reporter = new Reporter();
    const timed = logCacheMetrics(reporter, { path: join(dir, 'timed.sqlite'), flushIntervalMs: 20 });
    emitTask(reporter, { taskId: '1', account: '+100' });
    expect(timed.bufferedRows).toBe(1);
    // Waits for the flush however late a loaded machine runs the timer; the limit only ends a hang.
    await vi.waitFor(() => expect(readRows(timed.path)).toHaveLength(1), { timeout: 20_000, interval: 10 });
    expect(timed.bufferedRows).toBe(0);
    timed.close();

    const sized = logCacheMetrics(reporter, { path: join(dir, 'sized.sqlite'), batchSize: 3, flushIntervalMs: 60_000 });
    for (const taskId of ['1', '2', '3']) emitTask(reporter, { taskId, account: '+100' });
    expect(sized.bufferedRows).toBe(3);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sized.bufferedRows).toBe(0);
    expect(readRows(sized.path)).toHaveLength(3);

    emitTask(reporter, { taskId: '4', account: '+100' });
    sized.close();
    expect(readRows(sized.path)).toHaveLength(4);
    expect(reporter.listenerCount('cache:stats')).toBe(0);
    expect(reporter.listenerCount('task:end')).toBe(0);
  });

  it('creates the schema once, in WAL mode, and appends across runs', () => {
    const path = join(dir, 'metrics.sqlite');
    const reporter = new Reporter();
    const first = logCacheMetrics(reporter, { path });
    emitTask(reporter, { taskId: '1', account: '+100' });
    first.close();
    const second = logCacheMetrics(reporter, { path });
    emitTask(reporter, { taskId: '1', account: '+100' });
    second.close();

    const rows = readRows(path);
    expect(rows.map((row) => row.run_id)).toEqual([first.runId, second.runId]);
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(METRICS_SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare(`SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?`).get(TASK_METRICS_TABLE)).toEqual({ n: 1 });
    db.close();
  });

  it('leaves no file when nothing was recorded', () => {
    const path = join(dir, 'unused.sqlite');
    logCacheMetrics(new Reporter(), { path }).close();
    expect(() => summarizeMetrics(path)).toThrow(MetricsFileError);
  });

  it('logs a write failure once, drops the rows, lets tasks go on, and recovers when the file can be written again', () => {
    const blocker = join(dir, 'not-a-directory');
    writeFileSync(blocker, 'a file where the metrics directory should be');
    const path = join(blocker, 'metrics.sqlite');
    const { logger, lines } = memoryLogger();
    const reporter = new Reporter(logger);
    const store = logCacheMetrics(reporter, { path, logger });
    let ended = 0;
    reporter.on('task:end', () => ended++);

    emitTask(reporter, { taskId: '1', account: '+100' });
    expect(() => store.flush()).not.toThrow();
    emitTask(reporter, { taskId: '2', account: '+100' });
    expect(store.flush()).toBe(0);

    expect(ended).toBe(2);
    expect(store.droppedRows).toBe(2);
    const errors = lines().filter((line) => line.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: 'could not write task cache metrics; rows dropped, tasks unaffected', path, rows: 1 });

    rmSync(blocker);
    emitTask(reporter, { taskId: '3', account: '+100' });
    store.close();
    expect(readRows(path).map((row) => row.task_id)).toEqual(['3']);
    expect(lines().some((line) => line.msg === 'writing task cache metrics again')).toBe(true);
  });

  it('drops a batch the database rejects mid-run and keeps writing later ones', () => {
    const path = join(dir, 'metrics.sqlite');
    const { logger, lines } = memoryLogger();
    const reporter = new Reporter(logger);
    const store = logCacheMetrics(reporter, { path, logger });
    emitTask(reporter, { taskId: '1', account: '+100' });
    expect(store.flush()).toBe(1);

    reporter.on('cache:stats', (stats) => {
      // A value the table's CHECK constraint refuses makes the whole transaction fail.
      if (stats.taskId === '2') store.record({ ...stats, recordedAt: T0, outcome: 'cancelled' as 'ok', error: null, telegramCalls: null });
    });
    emitTask(reporter, { taskId: '2', account: '+100' });
    expect(store.flush()).toBe(0);
    expect(store.droppedRows).toBe(2);

    emitTask(reporter, { taskId: '3', account: '+100' });
    store.close();
    expect(readRows(path).map((row) => row.task_id)).toEqual(['1', '3']);
    expect(lines().filter((line) => line.level === 50)).toHaveLength(1);
  });
});

describe('summarizeMetrics', () => {
  function writeFixture(path: string): void {
    const reporter = new Reporter();
    let now = T0;
    const store = logCacheMetrics(reporter, { path, now: () => now, telegramCalls: (stats) => stats.misses });
    emitTask(reporter, { taskId: '1', account: '+100', scope: 'task', hits: 0, misses: 4 });
    emitTask(reporter, { taskId: '2', account: '+200', scope: 'task', hits: 1, misses: 3, error: 'FLOOD_WAIT_30' });
    now = T0 + HOUR;
    emitTask(reporter, { taskId: '3', account: '+100', scope: 'process', hits: 6, misses: 2 });
    emitTask(reporter, { taskId: '4', account: '+100', scope: 'process', hits: 8, misses: 0 });
    store.close();
  }

  it('summarises by scope, account and hour what was written', () => {
    const path = join(dir, 'metrics.sqlite');
    writeFixture(path);

    const byScope = summarizeMetrics(path, { groupBy: 'scope' });
    expect(byScope.rows).toEqual([
      { group: 'process', tasks: 2, errors: 0, hits: 14, misses: 2, lookups: 16, hitRate: 14 / 16, callsSaved: 14, telegramCalls: 2 },
      { group: 'task', tasks: 2, errors: 1, hits: 1, misses: 7, lookups: 8, hitRate: 1 / 8, callsSaved: 1, telegramCalls: 7 },
    ]);
    expect(byScope.total).toEqual({ group: 'total', tasks: 4, errors: 1, hits: 15, misses: 9, lookups: 24, hitRate: 15 / 24, callsSaved: 15, telegramCalls: 9 });

    const byAccount = summarizeMetrics(path, { groupBy: 'account' });
    expect(byAccount.rows.map(({ group, tasks, errors, hits, misses }) => ({ group, tasks, errors, hits, misses }))).toEqual([
      { group: '+100', tasks: 3, errors: 0, hits: 14, misses: 6 },
      { group: '+200', tasks: 1, errors: 1, hits: 1, misses: 3 },
    ]);

    const byHour = summarizeMetrics(path, { groupBy: 'hour' });
    expect(byHour.rows.map(({ group, tasks, hitRate }) => ({ group, tasks, hitRate }))).toEqual([
      { group: '2025-01-02 10:00', tasks: 2, hitRate: 1 / 8 },
      { group: '2025-01-02 11:00', tasks: 2, hitRate: 14 / 16 },
    ]);
  });

  it('renders a table with a total line', () => {
    const path = join(dir, 'metrics.sqlite');
    writeFixture(path);
    const lines = renderMetricsSummary(summarizeMetrics(path)).trimEnd().split('\n');
    expect(lines[0]).toBe(`Task cache metrics by scope (${path})`);
    expect(lines[1]?.split(/\s{2,}/)).toEqual(['scope', 'tasks', 'errors', 'lookups', 'hits', 'misses', 'hit rate', 'calls saved', 'telegram calls']);
    expect(lines[3]?.split(/\s+/)).toEqual(['process', '2', '0', '16', '14', '2', '87.5%', '14', '2']);
    expect(lines[4]?.split(/\s+/)).toEqual(['task', '2', '1', '8', '1', '7', '12.5%', '1', '7']);
    expect(lines.at(-1)?.split(/\s+/)).toEqual(['total', '4', '1', '24', '15', '9', '62.5%', '15', '9']);
  });

  it('says clearly when the file is missing, empty or not a metrics file', () => {
    expect(() => summarizeMetrics(join(dir, 'missing.sqlite'))).toThrow(/no metrics file at .*missing\.sqlite/);

    const empty = join(dir, 'empty.sqlite');
    new Database(empty).close();
    const summary = summarizeMetrics(empty);
    expect(summary.rows).toEqual([]);
    expect(summary.total.hitRate).toBeNull();
    expect(renderMetricsSummary(summary)).toMatch(/^No task metrics in .*empty\.sqlite yet/);

    const garbage = join(dir, 'garbage.sqlite');
    writeFileSync(garbage, 'this is not SQLite at all, just some text long enough to be read');
    expect(() => summarizeMetrics(garbage)).toThrow(/is not a readable tgfleet metrics file/);
  });
});
