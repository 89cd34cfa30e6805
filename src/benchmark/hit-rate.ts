import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatTable, percent, type Cell } from '../format/table.js';
import { CachePolicy } from '../cache/telegram-cache.js';
import { loadConfig, type FleetConfig } from '../config/config.js';
import { simulatedPhones } from '../runtime/accounts.js';
import { FleetRuntime } from '../runtime/fleet-runtime.js';
import { createWorld, usersForFleet } from '../telegram/simulated/world.js';
import { silentLogger } from '../telemetry/logger.js';
import { runWorkload, type JobProgress, type JobResult } from '../workload/fleet-job.js';
import { simulatedUniverse } from '../workload/universe.js';
import { generateWorkload, workingSetSize, type WorkloadTask } from '../workload/workload.js';
import { beladyHits, firstLookupHits, type TraceLookup } from './cache-bounds.js';
import { lineChartSvg, type ChartSeries } from './line-chart.js';

const QUARTER = 0.25;

/** Sizes no run reaches: the cache then never evicts. */
const UNBOUNDED = 1_000_000_000;
const UNBOUNDED_BYTES = 1024 ** 4;

/** One way of running the workload. */
interface Variant {
  name: string;
  description: string;
  entityCache: boolean;
  configure: (config: FleetConfig) => void;
}

export interface VariantResult extends Omit<JobResult, 'records'> {
  name: string;
  description: string;
  /** Hit rate of each round (every account's n-th task), for the chart. */
  hitRateByRound: number[];
}

export interface BoundResult {
  name: string;
  description: string;
  hitRate: number;
  hitRateByRound: number[];
}

export interface HitRateReport {
  date: string;
  accounts: number;
  tasksPerAccount: number;
  peersPerTask: number;
  /** Distinct (account, peer) pairs the workload looks up. */
  workingSet: number;
  /** Cache entries those pairs take when nothing is evicted (an id key, username keys, peers seen in passing). */
  workingSetEntries: number;
  /** Bytes those entries cost, as the cache counts them. */
  workingSetBytes: number;
  /** The quarter-size cache: entries for the real cache, peer slots for Belady on the trace. */
  /** The quarter-size budget in bytes; Belady gets the same bytes, at the average bytes of a looked-up pair. */
  smallCacheBytes: number;
  smallCachePeers: number;
  variants: VariantResult[];
  bounds: BoundResult[];
  /** Telegram calls per task of task scope and bare GramJS, divided by process scope's. */
  callRatios: { taskScopeOverProcess: number | null; bareOverProcess: number | null };
  /** Percentage points process scope's hit rate is below the unbounded cache's. */
  processGapToUnbounded: number | null;
}

export interface HitRateOptions {
  config?: FleetConfig;
  /** A few tasks per account, for a smoke test. */
  quick?: boolean;
  /** Where hit-rate.md, .json and .svg go. */
  outDir: string;
  onVariant?: (name: string) => void;
  onProgress?: (progress: JobProgress) => void;
}

function byRound(flags: readonly { round: number; hits: number; lookups: number }[], rounds: number): number[] {
  const hits = new Array<number>(rounds).fill(0);
  const lookups = new Array<number>(rounds).fill(0);
  for (const flag of flags) {
    hits[flag.round] = (hits[flag.round] ?? 0) + flag.hits;
    lookups[flag.round] = (lookups[flag.round] ?? 0) + flag.lookups;
  }
  return hits.map((value, round) => ((lookups[round] ?? 0) === 0 ? 0 : value / (lookups[round] as number)));
}

function traceOf(workload: readonly WorkloadTask[]): { trace: TraceLookup[]; rounds: number[] } {
  const trace: TraceLookup[] = [];
  const rounds: number[] = [];
  for (const task of workload) {
    for (const peer of task.peers) {
      trace.push({ account: task.account, key: peer.toLowerCase() });
      rounds.push(task.accountTaskIndex);
    }
  }
  return { trace, rounds };
}

function bound(name: string, description: string, flags: boolean[], rounds: number[], roundCount: number): BoundResult {
  const hits = flags.filter(Boolean).length;
  return {
    name,
    description,
    hitRate: flags.length === 0 ? 0 : hits / flags.length,
    hitRateByRound: byRound(
      flags.map((hit, i) => ({ round: rounds[i] as number, hits: hit ? 1 : 0, lookups: 1 })),
      roundCount,
    ),
  };
}

function gap(results: readonly VariantResult[]): number | null {
  const hitRate = (name: string): number | undefined => results.find((r) => r.name === name)?.hitRate;
  const process = hitRate('process scope');
  const unbounded = hitRate('unbounded cache');
  return process === undefined || unbounded === undefined ? null : (unbounded - process) * 100;
}

function renderMarkdown(report: HitRateReport): string {
  const rows: Cell[][] = report.variants.map((v) => [
    v.name,
    percent(v.hitRate),
    v.callsPerTask,
    v.calls['contacts.ResolveUsername'] ?? 0,
    v.floodWaits,
    v.floodSeconds,
    Math.round(v.telegramSeconds),
    Math.round(v.wallMs) / 1000,
    v.failed,
  ]);
  for (const b of report.bounds) rows.push([b.name, percent(b.hitRate), null, null, null, null, null, null, null]);
  const table = formatTable(['variant', 'hit rate', 'calls/task', 'resolves', 'FLOOD_WAITs', 'flood s', 'Telegram s', 'wall s', 'failed'], rows, {
    markdown: true,
    alignRight: [1, 2, 3, 4, 5, 6, 7, 8],
  });
  const ratio = (value: number | null): string => (value === null ? 'n/a' : `${value.toFixed(2)}×`);
  return [
    `Workload: ${report.accounts} accounts × ${report.tasksPerAccount} tasks × ${report.peersPerTask} peers. Working set: ${report.workingSet} (account, peer) pairs, which take ${report.workingSetEntries} cache entries when nothing is evicted. The quarter-size cache gets ${report.smallCacheBytes} bytes, a quarter of the ${report.workingSetBytes} bytes the unbounded cache ended with; Belady gets the same bytes, ${report.smallCachePeers} pairs at the unbounded cache's average bytes per pair (the peers seen in passing included, so both count the same room).`,
    '',
    table,
    '',
    `Telegram calls per task: task scope makes ${ratio(report.callRatios.taskScopeOverProcess)} and bare GramJS ${ratio(report.callRatios.bareOverProcess)} those of process scope.`,
    `Process scope's hit rate is ${report.processGapToUnbounded === null ? 'n/a' : report.processGapToUnbounded.toFixed(1)} points below the unbounded cache's.`,
    '',
    ...report.variants.map((v) => `- **${v.name}**: ${v.description}`),
    ...report.bounds.map((b) => `- **${b.name}**: ${b.description}`),
  ].join('\n');
}

/**
 * The cross-task hit-rate benchmark: the same seeded workload run under bare GramJS, task scope,
 * process scope and process scope with a small cache, each on a fresh runtime and a fresh
 * simulated Telegram, next to the bounds any cache could reach on the same lookups.
 */
export async function runHitRateBenchmark(options: HitRateOptions): Promise<HitRateReport> {
  const base = options.config ?? loadConfig().config;
  if (base.telegram.mode !== 'simulated') throw new Error('the hit-rate benchmark runs on the simulated Telegram: set telegram.mode: simulated');
  const quick = options.quick ?? false;
  const workloadConfig = { ...base.workload, ...(quick && { tasksPerAccount: Math.min(3, base.workload.tasksPerAccount) }) };
  const sim = base.telegram.simulated;
  const accounts = simulatedPhones(sim.accounts);
  const world = createWorld({ seed: sim.seed, users: usersForFleet(sim.users, sim.channels, { ...workloadConfig, accounts: accounts.length }), channels: sim.channels });
  const workload = generateWorkload(workloadConfig, accounts, simulatedUniverse(world, workloadConfig, accounts));
  const workingSet = workingSetSize(workload);
  /** Measured by the unbounded variant, which runs before the quarter-size one. */
  let workingSetEntries = 0;
  let workingSetBytes = 0;
  const smallCacheBytes = (): number => Math.max(1, Math.ceil(workingSetBytes * QUARTER));
  const roundCount = workloadConfig.tasksPerAccount;

  const variants: Variant[] = [
    { name: 'bare GramJS', description: 'no tgfleet cache; one GramJS client kept per account per worker, as people run today', entityCache: false, configure: () => {} },
    { name: 'task scope', description: 'a fresh cache for every task', entityCache: true, configure: (c) => void (c.cache.scope = 'task') },
    {
      name: 'process scope',
      description: `one cache shared by consecutive tasks (${base.cache.policy}, max_bytes ${base.cache.processMaxBytes}, max_size ${base.cache.processMaxSize ?? 'none'}, ${base.cache.perAccountMaxEntries} per account)`,
      entityCache: true,
      configure: (c) => void (c.cache.scope = 'process'),
    },
    {
      name: 'unbounded cache',
      description: 'process scope with no size limit and no per-account cap: misses are first lookups, expiry and Telegram-driven invalidations only',
      entityCache: true,
      configure: (c) => {
        c.cache.scope = 'process';
        c.cache.processMaxSize = null;
        c.cache.processMaxBytes = UNBOUNDED_BYTES;
        c.cache.perAccountMaxEntries = UNBOUNDED;
      },
    },
    ...[CachePolicy.TINYLFU, CachePolicy.LRU].map((policy) => ({
      name: `process scope, 25% size, ${policy}`,
      description: `process scope, ${policy}, with max_bytes at a quarter of the bytes the unbounded cache ended with`,
      entityCache: true,
      configure: (c: FleetConfig) => {
        c.cache.scope = 'process';
        c.cache.policy = policy;
        c.cache.processMaxSize = null;
        c.cache.processMaxBytes = smallCacheBytes();
      },
    })),
  ];

  const results: VariantResult[] = [];
  for (const variant of variants) {
    options.onVariant?.(variant.name);
    const config: FleetConfig = structuredClone(base);
    config.workload = workloadConfig;
    // Every variant starts cold: a durable store would carry one variant's entries into the next.
    config.cache.store.driver = 'none';
    variant.configure(config);
    const runtime = await FleetRuntime.start({ config, logger: silentLogger, entityCache: variant.entityCache });
    try {
      const { records, ...job } = await runWorkload(runtime, workload, { task: config.workload.task, ...(options.onProgress && { onProgress: options.onProgress }) });
      const perRound = records.map((record) => ({ round: Math.floor(record.index / accounts.length), hits: record.hits, lookups: record.lookups }));
      results.push({ name: variant.name, description: variant.description, ...job, hitRateByRound: byRound(perRound, roundCount) });
      if (variant.name === 'unbounded cache') {
        workingSetEntries = runtime.registry.currentProcessCache?.size ?? 0;
        workingSetBytes = runtime.registry.currentProcessCache?.bytes ?? 0;
      }
    } finally {
      await runtime.shutdown();
    }
  }

  const { trace, rounds } = traceOf(workload);
  const smallCachePeers = Math.max(1, Math.ceil(workingSet * QUARTER));
  const bounds = [
    bound(
      'first-lookup bound',
      'computed from the lookup trace: only the first lookup of each (account, peer) misses; Telegram never invalidates anything',
      firstLookupHits(trace),
      rounds,
      roundCount,
    ),
    bound(`Belady, quarter size`, `computed from the lookup trace: the optimal policy with ${smallCachePeers} peer slots`, beladyHits(trace, smallCachePeers), rounds, roundCount),
  ];
  const perTask = (name: string): number | null => results.find((r) => r.name === name)?.callsPerTask ?? null;
  const processCalls = perTask('process scope');
  const over = (name: string): number | null => {
    const calls = perTask(name);
    return calls === null || processCalls === null || processCalls === 0 ? null : calls / processCalls;
  };
  const report: HitRateReport = {
    date: new Date().toISOString(),
    accounts: accounts.length,
    tasksPerAccount: roundCount,
    peersPerTask: workloadConfig.peersPerTask,
    workingSet,
    workingSetEntries,
    workingSetBytes,
    smallCacheBytes: smallCacheBytes(),
    smallCachePeers,
    variants: results,
    bounds,
    callRatios: { taskScopeOverProcess: over('task scope'), bareOverProcess: over('bare GramJS') },
    processGapToUnbounded: gap(results),
  };

  const outDir = options.outDir;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'hit-rate.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'hit-rate.md'), `${renderMarkdown(report)}\n`);
  const series: ChartSeries[] = [
    ...results.map((line) => ({ name: line.name, points: line.hitRateByRound })),
    ...bounds.map((line) => ({ name: line.name, points: line.hitRateByRound, dashed: true })),
  ];
  writeFileSync(join(outDir, 'hit-rate.svg'), lineChartSvg(series, { title: 'Entity-cache hit rate by task round', xLabel: "task round (every account's n-th task)", yLabel: 'hit rate' }));
  return report;
}

export { renderMarkdown as renderHitRateMarkdown };
