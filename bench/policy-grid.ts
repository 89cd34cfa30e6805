/*
 * The eviction policies replayed on lookup traces of fleets of many sizes, next to Belady's
 * optimum and the unbounded cache, all in the same unit: bytes. Every (account, peer) pair costs
 * the real cache ENTRY_BYTES (about what a packed peer record, its key and its bookkeeping cost),
 * the cache is given a byte budget, and Belady gets that budget too, which at a uniform cost is
 * the same number of entries: so no bound is counted in other units than the cache it judges. Replaying the cache itself on a trace takes
 * seconds where running the fleet end to end takes minutes, so the whole grid of fleet sizes,
 * budgets and account activity patterns can be measured, not sampled.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringBytes } from '../src/cache/heap-size.js';
import { CachePolicy, ENTRY_OVERHEAD_BYTES, TelegramCache } from '../src/cache/telegram-cache.js';
import type { WorkloadConfig } from '../src/config/config.js';
import { seededRandom, type Random } from '../src/telegram/simulated/seeded-random.js';
import { drawTaskPeers, peerDrawer, zipfSampler, type PeerUniverse } from '../src/workload/workload.js';
import { formatTable } from '../src/format/table.js';
import { beladyHits, firstLookupHits, type TraceLookup } from '../src/benchmark/cache-bounds.js';
import { lineChartSvg, type ChartSeries } from '../src/benchmark/line-chart.js';

/** How the fleet's accounts take turns: all alike in turn, a few much busier than the rest, or each running a burst of tasks at once. */
export const ACTIVITIES = ['round-robin', 'zipf-accounts', 'bursts'] as const;
export type Activity = (typeof ACTIVITIES)[number];

export const GRID_ACCOUNTS = [8, 64, 256, 1000] as const;
/** Cache budgets as shares of the trace's working set (its distinct pairs). */
export const GRID_BUDGETS = [0.1, 0.25, 0.5, 1] as const;

/** Skew of account activity in the Zipf pattern, and the longest burst in the burst pattern. */
const ACCOUNT_ZIPF_EXPONENT = 1;
const LONGEST_BURST = 10;

export interface GridCell {
  accounts: number;
  activity: Activity;
  budget: number;
  /** Entries the budget allows: `budget` of the working set. */
  capacity: number;
  /** The byte budget every policy and Belady get: `capacity` × ENTRY_BYTES. */
  budgetBytes: number;
  lookups: number;
  workingSet: number;
  hitRates: { tinylfu: number; lru: number; belady: number; unbounded: number };
  /** Share of LRU's gap to Belady that W-TinyLFU closes (1: all of it); null where LRU is already optimal. */
  gapClosed: number | null;
  /** Percentage points W-TinyLFU is above LRU (negative: below). */
  pointsOverLru: number;
}

export interface GridOptions {
  /** The workload's peer mix (peers per task, popularity skew, private share, public peers). */
  workload: WorkloadConfig;
  accounts?: readonly number[];
  budgets?: readonly number[];
  activities?: readonly Activity[];
  /** Tasks per account on average; the trace has accounts × this many tasks whatever the activity. */
  tasksPerAccount?: number;
  onCell?: (cell: GridCell) => void;
}

function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** Which account runs each task, in order. */
function taskAccounts(activity: Activity, accounts: readonly string[], tasks: number, random: Random): string[] {
  const order: string[] = [];
  if (activity === 'round-robin') {
    for (let i = 0; i < tasks; i++) order.push(accounts[i % accounts.length] as string);
  } else if (activity === 'zipf-accounts') {
    const ranked = shuffled(accounts, random);
    const draw = zipfSampler(ranked.length, ACCOUNT_ZIPF_EXPONENT, random);
    for (let i = 0; i < tasks; i++) order.push(ranked[draw()] as string);
  } else {
    while (order.length < tasks) {
      const account = accounts[Math.floor(random() * accounts.length)] as string;
      const burst = 1 + Math.floor(random() * LONGEST_BURST);
      for (let i = 0; i < burst && order.length < tasks; i++) order.push(account);
    }
  }
  return order;
}

/** A synthetic universe of the workload's shape: shared public peers, and each account's own contacts. */
function universeOf(workload: WorkloadConfig, accounts: readonly string[]): PeerUniverse {
  const publicPeers = Array.from({ length: workload.publicPeers }, (_, i) => `public_peer_${i}`);
  const privatePeers = new Map(accounts.map((account) => [account, Array.from({ length: workload.privatePeersPerAccount }, (_, i) => `${account}_contact_${i}`)]));
  return { publicPeers, privatePeers };
}

/** The lookups of a fleet of `accountCount` accounts running the workload's tasks in the given pattern. */
export function fleetTrace(workload: WorkloadConfig, accountCount: number, activity: Activity, tasksPerAccount: number): TraceLookup[] {
  const accounts = Array.from({ length: accountCount }, (_, i) => `acct${i}`);
  const universe = universeOf(workload, accounts);
  const drawer = peerDrawer(workload, universe);
  const order = taskAccounts(activity, accounts, accountCount * tasksPerAccount, seededRandom(workload.seed + 1));
  const trace: TraceLookup[] = [];
  for (const account of order) {
    for (const peer of drawTaskPeers(drawer, universe.privatePeers.get(account) ?? [], workload)) trace.push({ account, key: peer });
  }
  return trace;
}

/** What one cached pair costs in the grid: a packed peer record of about 250 B, its key and the cache's bookkeeping. */
export const ENTRY_BYTES = 400;

/**
 * Hits of a real TelegramCache with `policy` and a budget of `budgetBytes`: a miss stores the
 * entry, as the client does after fetching it. The stored value is the key itself, weighed so that
 * key, value and bookkeeping come to ENTRY_BYTES exactly.
 */
export function replayHits(trace: readonly TraceLookup[], policy: CachePolicy, budgetBytes: number): number {
  const weigh = (value: unknown): number => ENTRY_BYTES - ENTRY_OVERHEAD_BYTES - stringBytes(value as string);
  const cache = new TelegramCache<string>({ maxSize: null, maxBytes: budgetBytes, policy, weigh });
  let hits = 0;
  for (const { account, key } of trace) {
    if (cache.get(account, key) === undefined) cache.set(account, key, key);
    else hits++;
  }
  return hits;
}

export function workingSetOf(trace: readonly TraceLookup[]): number {
  return new Set(trace.map(({ account, key }) => `${account}\u0000${key}`)).size;
}

const count = (flags: readonly boolean[]): number => flags.reduce((n, flag) => n + (flag ? 1 : 0), 0);

/** Every policy and bound at one budget of one trace. */
export function measureCell(trace: readonly TraceLookup[], workingSet: number, unboundedHits: number, cell: Pick<GridCell, 'accounts' | 'activity' | 'budget'>): GridCell {
  const capacity = Math.max(1, Math.round(workingSet * cell.budget));
  const budgetBytes = capacity * ENTRY_BYTES;
  const lookups = trace.length;
  const rate = (hits: number): number => (lookups === 0 ? 0 : hits / lookups);
  const hitRates = {
    tinylfu: rate(replayHits(trace, CachePolicy.TINYLFU, budgetBytes)),
    lru: rate(replayHits(trace, CachePolicy.LRU, budgetBytes)),
    belady: rate(count(beladyHits(trace, Math.floor(budgetBytes / ENTRY_BYTES)))),
    unbounded: rate(unboundedHits),
  };
  const gap = hitRates.belady - hitRates.lru;
  return {
    ...cell,
    capacity,
    budgetBytes,
    lookups,
    workingSet,
    hitRates,
    gapClosed: gap > 1e-9 ? (hitRates.tinylfu - hitRates.lru) / gap : null,
    pointsOverLru: (hitRates.tinylfu - hitRates.lru) * 100,
  };
}

export function runPolicyGrid(options: GridOptions): GridCell[] {
  const cells: GridCell[] = [];
  for (const accounts of options.accounts ?? GRID_ACCOUNTS) {
    for (const activity of options.activities ?? ACTIVITIES) {
      const trace = fleetTrace(options.workload, accounts, activity, options.tasksPerAccount ?? 30);
      const workingSet = workingSetOf(trace);
      const unboundedHits = count(firstLookupHits(trace));
      for (const budget of options.budgets ?? GRID_BUDGETS) {
        const cell = measureCell(trace, workingSet, unboundedHits, { accounts, activity, budget });
        cells.push(cell);
        options.onCell?.(cell);
      }
    }
  }
  return cells;
}

/** Whether a cell meets the policy's bounds: at 10% and 25% half of LRU's gap to Belady closed; nowhere more than half a point below LRU. */
export function cellVerdict(cell: GridCell): 'pass' | 'fail' {
  if (cell.pointsOverLru < -0.5) return 'fail';
  if (cell.budget > 0.25) return 'pass';
  return cell.gapClosed === null || cell.gapClosed >= 0.5 ? 'pass' : 'fail';
}

export function renderGridMarkdown(cells: readonly GridCell[]): string {
  const pct = (rate: number): string => `${(rate * 100).toFixed(1)}%`;
  const rows = cells.map((c) => [
    c.accounts,
    c.activity,
    `${c.budget * 100}%`,
    `${(c.budgetBytes / 1024).toFixed(0)} KiB`,
    pct(c.hitRates.tinylfu),
    pct(c.hitRates.lru),
    pct(c.hitRates.belady),
    pct(c.hitRates.unbounded),
    c.gapClosed === null ? '-' : `${(c.gapClosed * 100).toFixed(0)}%`,
    c.pointsOverLru.toFixed(2),
    cellVerdict(c),
  ]);
  return formatTable(['accounts', 'activity', 'budget', 'bytes', 'tinylfu', 'lru', 'Belady', 'unbounded', 'gap closed', 'points over LRU', 'bounds'], rows, {
    markdown: true,
    alignRight: [0, 3, 4, 5, 6, 7, 8, 9],
  });
}

/** Hit rate against budget for each policy and bound, averaged over every fleet size and activity pattern of the grid. */
export function gridChartSvg(cells: readonly GridCell[]): string {
  const budgets = [...new Set(cells.map((c) => c.budget))].sort((a, b) => a - b);
  const mean = (pick: (c: GridCell) => number): number[] =>
    budgets.map((budget) => {
      const at = cells.filter((c) => c.budget === budget);
      return at.reduce((sum, c) => sum + pick(c), 0) / Math.max(1, at.length);
    });
  const series: ChartSeries[] = [
    { name: 'tinylfu', points: mean((c) => c.hitRates.tinylfu) },
    { name: 'lru', points: mean((c) => c.hitRates.lru) },
    { name: 'Belady (bound)', points: mean((c) => c.hitRates.belady), dashed: true },
    { name: 'unbounded (bound)', points: mean((c) => c.hitRates.unbounded), dashed: true },
  ];
  return lineChartSvg(series, {
    title: 'Hit rate against cache budget (mean over the grid)',
    xLabel: 'byte budget, share of the working set',
    yLabel: 'hit rate',
    xTickLabels: budgets.map((b) => `${b * 100}%`),
  });
}

export interface GridBenchmarkOptions {
  workload: WorkloadConfig;
  /** Fleets of 8 and 64 accounts and half the budgets, for a smoke test. */
  quick?: boolean;
  /** Where policy-grid.md, .json and .svg go. */
  outDir: string;
  onCell?: (cell: GridCell) => void;
}

/** The whole grid, written as a Markdown table, a JSON record and the chart. */
export function runPolicyGridBenchmark(options: GridBenchmarkOptions): GridCell[] {
  const cells = runPolicyGrid({
    workload: options.workload,
    ...(options.quick && { accounts: [8, 64], budgets: [0.1, 1], tasksPerAccount: 5 }),
    ...(options.onCell && { onCell: options.onCell }),
  });
  mkdirSync(options.outDir, { recursive: true });
  writeFileSync(join(options.outDir, 'policy-grid.md'), `${renderGridMarkdown(cells)}\n`);
  writeFileSync(join(options.outDir, 'policy-grid.json'), `${JSON.stringify({ date: new Date().toISOString(), entryBytes: ENTRY_BYTES, cells }, null, 2)}\n`);
  writeFileSync(join(options.outDir, 'policy-grid.svg'), gridChartSvg(cells));
  return cells;
}
