/*
 * The eviction policies replayed on lookup traces of fleets of many sizes, next to Belady's
 * optimum and the unbounded cache, all counted in the same unit: one (account, peer) pair is one
 * entry for every policy and for the bounds alike. Replaying the cache itself on a trace takes
 * seconds where running the fleet end to end takes minutes, so the whole grid of fleet sizes,
 * budgets and account activity patterns can be measured, not sampled.
 */
import { CachePolicy, TelegramCache } from '../cache/telegram-cache.js';
import type { WorkloadConfig } from '../config/config.js';
import { seededRandom, type Random } from '../telegram/simulated/seeded-random.js';
import { drawTaskPeers, peerDrawer, zipfSampler, type PeerUniverse } from '../workload/workload.js';
import { beladyHits, firstLookupHits, type TraceLookup } from './cache-bounds.js';

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

/** Hits of a real TelegramCache with `policy` and room for `capacity` entries: a miss stores the entry, as the client does after fetching it. */
export function replayHits(trace: readonly TraceLookup[], policy: CachePolicy, capacity: number): number {
  const cache = new TelegramCache<number>({ maxSize: capacity, policy, weigh: () => 0 });
  let hits = 0;
  for (const { account, key } of trace) {
    if (cache.get(account, key) === undefined) cache.set(account, key, 1);
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
  const lookups = trace.length;
  const rate = (hits: number): number => (lookups === 0 ? 0 : hits / lookups);
  const hitRates = {
    tinylfu: rate(replayHits(trace, CachePolicy.TINYLFU, capacity)),
    lru: rate(replayHits(trace, CachePolicy.LRU, capacity)),
    belady: rate(count(beladyHits(trace, capacity))),
    unbounded: rate(unboundedHits),
  };
  const gap = hitRates.belady - hitRates.lru;
  return {
    ...cell,
    capacity,
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
