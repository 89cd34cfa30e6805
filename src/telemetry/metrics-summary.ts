import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { formatTable, percent, type Cell } from '../format/table.js';
import { METRICS_SCHEMA_VERSION, TASK_METRICS_TABLE } from './metrics-store.js';

import type { MetricsGroupBy } from './metrics-groups.js';

export { METRICS_GROUPS, type MetricsGroupBy } from './metrics-groups.js';

/** Hours are UTC, so summaries from hosts in different zones line up. */
const GROUP_EXPRESSIONS: Record<MetricsGroupBy, string> = {
  scope: 'scope',
  account: 'account',
  hour: `strftime('%Y-%m-%d %H:00', recorded_at / 1000, 'unixepoch')`,
};

const GROUP_HEADINGS: Record<MetricsGroupBy, string> = { scope: 'scope', account: 'account', hour: 'hour (UTC)' };

export interface MetricsSummaryRow {
  group: string;
  tasks: number;
  errors: number;
  hits: number;
  misses: number;
  /** Entity lookups that went through the cache: hits plus misses. */
  lookups: number;
  /** Hits over lookups; null when there were no lookups. */
  hitRate: number | null;
  /** Every hit is a Telegram call the task did not have to make. */
  callsSaved: number;
  /** Null when no task in the group had its Telegram calls counted. */
  telegramCalls: number | null;
}

export interface MetricsSummary {
  path: string;
  groupBy: MetricsGroupBy;
  rows: MetricsSummaryRow[];
  total: MetricsSummaryRow;
}

/** The file is missing or is not a tgfleet metrics file: the message says which and what to do. */
export class MetricsFileError extends Error {
  override readonly name = 'MetricsFileError';
}

interface GroupTotals {
  group: string;
  tasks: number;
  errors: number;
  hits: number;
  misses: number;
  telegramCalls: number | null;
}

function toRow(totals: GroupTotals): MetricsSummaryRow {
  const lookups = totals.hits + totals.misses;
  return { ...totals, lookups, hitRate: lookups === 0 ? null : totals.hits / lookups, callsSaved: totals.hits };
}

function addTotals(a: GroupTotals, b: GroupTotals): GroupTotals {
  return {
    group: a.group,
    tasks: a.tasks + b.tasks,
    errors: a.errors + b.errors,
    hits: a.hits + b.hits,
    misses: a.misses + b.misses,
    telegramCalls: a.telegramCalls === null && b.telegramCalls === null ? null : (a.telegramCalls ?? 0) + (b.telegramCalls ?? 0),
  };
}

function readGroups(path: string, groupBy: MetricsGroupBy): GroupTotals[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === 0) return [];
    if (version > METRICS_SCHEMA_VERSION) {
      throw new MetricsFileError(`${path} holds metrics schema version ${version}, newer than this tgfleet reads (${METRICS_SCHEMA_VERSION}); upgrade tgfleet`);
    }
    return db
      .prepare<[], GroupTotals>(
        `SELECT ${GROUP_EXPRESSIONS[groupBy]} AS "group", SUM(outcome != 'retried') AS tasks, SUM(outcome = 'error') AS errors,
           SUM(hits) AS hits, SUM(misses) AS misses, SUM(telegram_calls) AS telegramCalls
         FROM ${TASK_METRICS_TABLE} GROUP BY 1 ORDER BY 1`,
      )
      .all();
  } finally {
    db.close();
  }
}

/** Hit rate, lookups and calls saved per scope, account or hour, for `tgfleet metrics`. */
export function summarizeMetrics(path: string, options: { groupBy?: MetricsGroupBy } = {}): MetricsSummary {
  const groupBy = options.groupBy ?? 'scope';
  if (!existsSync(path)) {
    throw new MetricsFileError(`no metrics file at ${path}: \`tgfleet run\` writes one to metrics.sqlite in the config; run some tasks first or pass the file's path`);
  }
  let groups: GroupTotals[];
  try {
    groups = readGroups(path, groupBy);
  } catch (error) {
    if (error instanceof MetricsFileError) throw error;
    throw new MetricsFileError(`${path} is not a readable tgfleet metrics file: ${(error as Error).message}`);
  }
  const empty: GroupTotals = { group: 'total', tasks: 0, errors: 0, hits: 0, misses: 0, telegramCalls: null };
  return { path, groupBy, rows: groups.map(toRow), total: toRow(groups.reduce(addTotals, empty)) };
}

/** A plain-text table with a total line; an empty file gets a sentence instead of an empty table. */
export function renderMetricsSummary(summary: MetricsSummary): string {
  if (summary.rows.length === 0) {
    return `No task metrics in ${summary.path} yet: it fills as \`tgfleet run\` finishes tasks.\n`;
  }
  const header = [GROUP_HEADINGS[summary.groupBy], 'tasks', 'errors', 'lookups', 'hits', 'misses', 'hit rate', 'calls saved', 'telegram calls'];
  const cells = (row: MetricsSummaryRow): Cell[] => [row.group, row.tasks, row.errors, row.lookups, row.hits, row.misses, percent(row.hitRate), row.callsSaved, row.telegramCalls];
  const table = formatTable(header, summary.rows.map(cells), { footer: [cells(summary.total)], alignRight: [1, 2, 3, 4, 5, 6, 7, 8] });
  return [`Task cache metrics by ${summary.groupBy} (${summary.path})`, table, ''].join('\n');
}
