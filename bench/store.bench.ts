import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CacheStore, StoreWrite } from '../src/cache/store/cache-store.js';
import { encodeValue } from '../src/cache/store/entry-codec.js';
import { PostgresStore } from '../src/cache/store/postgres-store.js';
import { RedisStore } from '../src/cache/store/redis-store.js';
import { SqliteStore } from '../src/cache/store/sqlite-store.js';
import { loadConfig, type FleetConfig } from '../src/config/config.js';
import { formatTable } from '../src/format/table.js';
import { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { runWorkload } from '../src/workload/fleet-job.js';
import { simulatedUniverse } from '../src/workload/universe.js';
import { generateWorkload } from '../src/workload/workload.js';
import { isMain, quickFromEnv, repositoryRoot } from './bench-env.js';
import { sampleRecords } from './sample-records.js';

/*
 * The durable store's benchmarks: the restart storm (the shipped workload, stopped and started
 * again, with and without the store), what the SQLite store costs in tasks per second, and how
 * long one batched read takes on each driver. Every figure is min / median / max of several
 * repetitions in this one run.
 */

const COMMAND = 'npm run build && node dist/bench/store.bench.js';

interface Spread {
  min: number;
  median: number;
  max: number;
}

function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0] ?? NaN, median: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
}

const show = (value: Spread, digits = 1): string => `${value.min.toFixed(digits)} / ${value.median.toFixed(digits)} / ${value.max.toFixed(digits)}`;

function shipped(edit: (config: FleetConfig) => void): FleetConfig {
  const { config } = loadConfig(join(repositoryRoot(), 'config.yaml'), {});
  config.logging.level = 'silent';
  edit(config);
  return config;
}

interface RunFigures {
  resolves: number;
  floodWaits: number;
  /** Tasks that ended in a FLOOD_WAIT they could not wait out: only where the runtime's own resolve cap is off. */
  floodFailures: number;
  tasksPerSecond: number;
  hitRate: number;
  /** CPU time of the whole process (every thread) per task, in ms: what the store costs whatever the machine's load. */
  cpuMsPerTask: number;
  /** CPU time of the main thread alone per task, in ms (NaN where the system does not say): where lookups, write-behind and read-through run. */
  mainCpuMsPerTask: number;
}

/** CPU time of the calling thread so far, in ms, from Linux's per-thread counters (in clock ticks of 10 ms); NaN elsewhere. */
function threadCpuMs(): number {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * One run of a runtime started afresh: the workload's first `rounds` rounds. Any failed task
 * fails the benchmark, except a FLOOD_WAIT where the config turned the resolve cap off: that is
 * what such a fleet meets, and it is counted.
 */
async function run(config: FleetConfig, rounds: number): Promise<RunFigures> {
  const runtime = await FleetRuntime.start({ config: { ...config, workload: { ...config.workload, tasksPerAccount: rounds } } });
  try {
    const workload = generateWorkload({ ...config.workload, tasksPerAccount: rounds }, runtime.accounts, simulatedUniverse(runtime.world!, config.workload, runtime.accounts));
    const cpu = process.cpuUsage();
    const mainCpu = threadCpuMs();
    const result = await runWorkload(runtime, workload, { task: config.workload.task });
    const used = process.cpuUsage(cpu);
    const mainUsed = threadCpuMs() - mainCpu;
    const floodFailures = config.flood.resolvesPerMinute === 0 ? (result.errors['FloodWaitError'] ?? 0) : 0;
    if (result.failed > floodFailures) throw new Error(`${result.failed} tasks failed: ${JSON.stringify(result.errors)}`);
    return {
      floodFailures,
      resolves: runtime.simulator!.totalCalls('contacts.ResolveUsername'),
      floodWaits: result.floodWaits,
      tasksPerSecond: result.tasksPerSecond,
      hitRate: result.hitRate,
      cpuMsPerTask: (used.user + used.system) / 1000 / result.tasks,
      mainCpuMsPerTask: mainUsed / result.tasks,
    };
  } finally {
    await runtime.shutdown();
  }
}

/** The shipped workload run to the end, then a second runtime's first round, on one store file (or none). */
async function restartStorm(folder: string, store: boolean, rounds: number, selfLimit: boolean): Promise<{ first: RunFigures; second: RunFigures }> {
  const file = join(mkdtempSync(join(folder, 'storm-')), 'tgfleet-cache.sqlite');
  const config = shipped((c) => {
    c.cache.store.driver = store ? 'sqlite' : 'none';
    c.cache.store.sqlitePath = file;
    if (!selfLimit) c.flood.resolvesPerMinute = 0;
  });
  const full = await run(config, rounds);
  const second = await run(config, 1);
  return { first: full, second };
}

interface Throughput {
  without: RunFigures[];
  with: RunFigures[];
  /** Tasks per second with the store over those without it, block by block. */
  ratios: number[];
}

/**
 * Blocks of four runs, two without the store and two with it on a fresh file (its cost, writes
 * behind and misses read through, with no warm start to help it), in the order without, with,
 * with, without (the next block the other way round). A load that rises or falls steadily
 * through a block then falls on both variants alike, and each block's ratio compares runs made
 * moments apart.
 */
async function throughput(folder: string, blocks: number, rounds: number): Promise<Throughput> {
  const figures: Throughput = { without: [], with: [], ratios: [] };
  for (let block = 0; block < blocks; block++) {
    const tps: Record<'with' | 'without', number> = { with: 0, without: 0 };
    for (const store of block % 2 === 0 ? [false, true, true, false] : [true, false, false, true]) {
      const file = join(mkdtempSync(join(folder, 'tps-')), 'tgfleet-cache.sqlite');
      const result = await run(
        shipped((c) => {
          c.cache.store.driver = store ? 'sqlite' : 'none';
          c.cache.store.sqlitePath = file;
        }),
        rounds,
      );
      figures[store ? 'with' : 'without'].push(result);
      tps[store ? 'with' : 'without'] += result.tasksPerSecond;
    }
    figures.ratios.push(tps.with / tps.without);
  }
  return figures;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill();
  return exited;
}

/**
 * Runs `body` while `threads` processes spin, one per core by default: the same load for both
 * variants, whatever else the machine runs. They are processes, not threads of this one, so the
 * CPU per task counts the runtime's own work only.
 */
async function underLoad<T>(threads: number, body: () => Promise<T>): Promise<T> {
  const spinners = Array.from({ length: threads }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  try {
    return await body();
  } finally {
    await Promise.all(spinners.map(stop));
  }
}

const KEYS = 64;
const ACCOUNT = '+15550000001';

async function readLatency(store: CacheStore, repetitions: number, iterations: number): Promise<{ batch: Spread; single: Spread }> {
  const records = sampleRecords(KEYS);
  const now = Date.now();
  const entries: StoreWrite[] = records.map((record, i) => ({ account: ACCOUNT, key: `p:${i}`, data: encodeValue(record.tl), expiresAt: null, usedAt: now }));
  await store.write(entries);
  const keys = entries.map((entry) => entry.key);
  const time = async (ask: readonly string[]): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < iterations; i++) await store.getMany(ACCOUNT, ask, now);
    return ((performance.now() - started) / iterations) * 1000;
  };
  const batch: number[] = [];
  const single: number[] = [];
  await time(keys);
  for (let rep = 0; rep < repetitions; rep++) {
    batch.push(await time(keys));
    single.push(await time(keys.slice(0, 1)));
  }
  return { batch: spread(batch), single: spread(single) };
}

export async function runStoreBench(options: { quick: boolean }): Promise<string> {
  const folder = mkdtempSync(join(tmpdir(), 'tgfleet-store-bench-'));
  const repetitions = 3;
  /** Tasks per second vary most on a shared machine: more runs of each variant, so the median ratio is not one lucky block. */
  const throughputBlocks = options.quick ? 2 : 6;
  const loadThreads = availableParallelism();
  const shippedRounds = shipped(() => {}).workload.tasksPerAccount;
  const rounds = options.quick ? Math.min(5, shippedRounds) : shippedRounds;
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  try {
    log('restart storm…');
    const storm: [string, { first: RunFigures; second: RunFigures }][] = [];
    for (const selfLimit of [true, false]) {
      for (const store of [false, true])
        storm.push([`${store ? 'SQLite store' : 'no store'}, ${selfLimit ? 'shipped resolve cap' : 'no resolve cap of its own'}`, await restartStorm(folder, store, rounds, selfLimit)]);
    }
    log('tasks per second…');
    const loadBefore = loadavg()[0] ?? NaN;
    const idle = await throughput(folder, throughputBlocks, rounds);
    log(`tasks per second, ${loadThreads} spinning processes beside…`);
    const loaded = await underLoad(loadThreads, () => throughput(folder, throughputBlocks, rounds));
    const loadAfter = loadavg()[0] ?? NaN;
    log('batched reads…');
    const drivers: [string, () => Promise<CacheStore>][] = [
      ['SQLite (file)', async () => SqliteStore.open(join(folder, 'latency.sqlite'))],
      ['PostgreSQL (127.0.0.1)', () => PostgresStore.open('postgres://127.0.0.1:5432/test', `tgfleet_cache_bench_${process.pid}`)],
      ['Redis (127.0.0.1)', () => RedisStore.open('redis://127.0.0.1:6379', `tgfleet:cache-bench-${process.pid}:`)],
    ];
    const latency: string[][] = [];
    for (const [name, open] of drivers) {
      let store: CacheStore;
      try {
        store = await open();
      } catch (error) {
        latency.push([name, `not measured: ${(error as Error).message}`, '']);
        continue;
      }
      try {
        const figures = await readLatency(store, repetitions, options.quick ? 50 : 300);
        latency.push([name, show(figures.batch), show(figures.single)]);
      } finally {
        await store.prune(Date.now() + 1, { maxAgeMs: 0, maxEntries: 1000 });
        if (store instanceof PostgresStore) await dropTable(`tgfleet_cache_bench_${process.pid}`);
        await store.close();
      }
    }

    const throughputRows = (
      [
        ['as the machine is', idle],
        [`${loadThreads} spinning processes beside`, loaded],
      ] as const
    ).flatMap(([load, figures]) => [
      [load, 'no store', ...cpuColumns(figures.without)],
      ['', 'SQLite store', ...cpuColumns(figures.with)],
      ['', 'ratio, block by block', `${show(spread(figures.ratios.map((ratio) => ratio * 100))).replace(/ \/ /g, '% / ')}%`, '', ''],
    ]);
    return [
      '## Durable cache store',
      '',
      `Regenerate with \`${COMMAND}\`${options.quick ? ' (QUICK MODE: not for comparison)' : ''}; measured ${new Date().toISOString().slice(0, 10)}. \`npm run bench\` keeps this section as it is.`,
      '',
      `**Restart storm.** The shipped workload (${rounds} tasks per account) runs to the end on a fresh runtime, which is then stopped; a second runtime runs the first round (each account's first task). Resolves and FLOOD_WAITs are the simulated Telegram's counts.`,
      '',
      formatTable(
        ['variant', 'run 1 resolves', 'tasks failed on FLOOD_WAIT, both runs', 'run 2 round 1 resolves', 'run 2 round 1 FLOOD_WAITs', 'run 2 round 1 hit rate'],
        storm.map(([name, { first, second }]) => [name, first.resolves, first.floodFailures + second.floodFailures, second.resolves, second.floodWaits, `${(second.hitRate * 100).toFixed(1)}%`]),
        { markdown: true, alignRight: [1, 2, 3, 4, 5] },
      ),
      '',
      `**Throughput.** Tasks per second of the shipped workload (${rounds} tasks per account) without the store and with it on a fresh file (no warm start to help it), in ${throughputBlocks} blocks of four runs (without, with, with, without; the next block the other way round), each run on a fresh runtime; min / median / max. The ratio is the store's tasks per second over the other variant's, summed over the two runs of each in a block. CPU is that of the whole process (every thread) and of its main thread alone, per task; CPU times are less at the mercy of the machine's load than tasks per second, and the main thread's shows what the store costs where lookups are answered. Then the same with ${loadThreads} processes spinning beside the runs. Load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after (${availableParallelism()} cores).`,
      '',
      formatTable(['load', 'variant', 'tasks/s', 'CPU ms per task', 'main thread CPU ms per task'], throughputRows, { markdown: true }),
      '',
      `**Batched read latency.** One \`getMany\` of ${KEYS} peer records (and of one), in µs per call, min / median / max of ${repetitions} repetitions of ${options.quick ? 50 : 300} calls:`,
      '',
      formatTable(['driver', `${KEYS} keys, µs`, '1 key, µs'], latency, { markdown: true }),
      '',
      `The machine is shared: its load average was ${loadavg()[0]?.toFixed(1)} at the end of this run, so compare the spreads, not single figures.`,
      '',
    ].join('\n');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

function cpuColumns(runs: readonly RunFigures[]): string[] {
  return [show(spread(runs.map((f) => f.tasksPerSecond))), show(spread(runs.map((f) => f.cpuMsPerTask)), 2), show(spread(runs.map((f) => f.mainCpuMsPerTask)), 2)];
}

async function dropTable(table: string): Promise<void> {
  const { default: pg } = await import('pg');
  const { connectionUrl } = await import('../src/config/postgres-url.js');
  const client = new pg.Client({ connectionString: connectionUrl('postgres://127.0.0.1:5432/test') });
  await client.connect();
  await client.query(`DROP TABLE IF EXISTS "${table}"`);
  await client.end();
}

/** Writes the section to bench/results/store.md and puts it in place of its old copy in bench/RESULTS.md. */
function publish(section: string): void {
  const root = repositoryRoot();
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'store.md'), section);
  const file = join(root, 'bench', 'RESULTS.md');
  const results = readFileSync(file, 'utf8');
  const start = results.indexOf('## Durable cache store');
  const kept =
    start < 0
      ? results
      : results.slice(0, start) +
        (results
          .slice(start)
          .match(/\n## (?!Durable cache store)[\s\S]*$/)?.[0]
          .slice(1) ?? '');
  writeFileSync(file, `${kept.trimEnd()}\n\n${section}`);
}

if (isMain(import.meta.url)) {
  const section = await runStoreBench({ quick: quickFromEnv() });
  process.stdout.write(`${section}\n`);
  publish(section);
}
