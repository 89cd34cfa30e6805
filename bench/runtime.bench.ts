import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { TelegramCache } from '../src/cache/telegram-cache.js';
import { ChannelServer, ServedTask } from '../src/channel/channel-server.js';
import { defaultConfig, type FleetConfig } from '../src/config/config.js';
import { AccountEndpoint } from '../src/runtime/account-endpoint.js';
import { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { FloodControl } from '../src/runtime/flood-control.js';
import { resolveTaskModule } from '../src/module-paths.js';
import { Scheduler } from '../src/runtime/scheduler.js';
import { SingleFlight } from '../src/runtime/single-flight.js';
import type { ChannelOp, ChannelWorkerData } from './channel-worker.js';
import { sampleRecords } from './sample-records.js';
import { formatTable, runPairs, spreadOf, type BenchCase, type BenchOptions } from './harness.js';
import { isMain, quickFromEnv, repositoryRoot } from './bench-env.js';
import { formatTable as formatTextTable } from '../src/format/table.js';

/*
 * What the runtime costs over the mechanism underneath it:
 *  - a no-op task through FleetRuntime.run (scheduler, cache view, the task's binding on its
 *    worker's link, the account's reused client, events) against the same no-op module on a bare
 *    Piscina pool of the same threads, tasks per thread and atomics setting; blocks of tasks take
 *    turns, one task in flight (idle) and many (under load);
 *  - the same no-op tasks spread over 1000 accounts against 8 accounts, on one runtime;
 *  - cache reads a worker makes over a task's channel against a bare MessagePort round trip
 *    answering from the same cache.
 * Workers run compiled code, so `npm run build` must have run, whether this runs from dist/ or
 * from sources.
 */

export const RUNTIME_COMMAND = 'npm run build && node dist/bench/runtime.bench.js';
const TITLE = 'Runtime and channel against raw Piscina and a raw MessagePort';

const THREADS = Math.min(2, availableParallelism());
/** The runtime's setting: a parked worker ('sync') may miss port messages between tasks. */
const ATOMICS = 'disabled';
const ACCOUNT = '+15550000001';
const KEYS = Array.from({ length: 64 }, (_, index) => `user:${index}`);
const RECORDS = sampleRecords(KEYS.length);
/** Round trips per timed operation; the control message that starts a batch is spread over them. */
const ROUND_TRIPS_PER_OP = 32;

/** Tasks in flight at the loaded level: several times what the pool runs at once, so both queues stay full. */
const LOADED = 64;
const FEW_ACCOUNTS = 8;

/** Tasks of one account queued at once in the queue-scale measurement. */
const QUEUED = 100_000;

/** One side of an interleaved comparison: `run(i)` starts the i-th task of a block. */
interface Side {
  label: string;
  run: (index: number) => Promise<unknown>;
}

/** Per task, in ns: wall time, CPU time of the whole process (every thread), and main-thread busy time. */
interface BlockTimes {
  wall: number;
  cpu: number;
  main: number;
}

async function block(side: Side, tasks: number, inFlight: number): Promise<BlockTimes> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks) await side.run(next++);
  };
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const busy = performance.eventLoopUtilization(elu).active;
  return { wall: (wall * 1e6) / tasks, cpu: ((used.user + used.system) * 1e3) / tasks, main: (busy * 1e6) / tasks };
}

interface Comparison {
  level: string;
  subject: BlockTimes[];
  peer: BlockTimes[];
}

/**
 * Blocks of the two sides take turns, the first side changing every repetition, so that a
 * neighbour's load and slow drift fall on both alike; the first block of each is a warm-up.
 */
async function interleave(subject: Side, peer: Side, level: string, inFlight: number, tasks: number, repetitions: number): Promise<Comparison> {
  await block(subject, tasks, inFlight);
  await block(peer, tasks, inFlight);
  const result: Comparison = { level, subject: [], peer: [] };
  for (let round = 0; round < repetitions; round++) {
    if (round % 2 === 0) {
      result.subject.push(await block(subject, tasks, inFlight));
      result.peer.push(await block(peer, tasks, inFlight));
    } else {
      result.peer.push(await block(peer, tasks, inFlight));
      result.subject.push(await block(subject, tasks, inFlight));
    }
  }
  return result;
}

const us = (ns: number): string => (ns / 1e3).toFixed(1);
const spreadText = (values: number[], format: (value: number) => string): string => {
  const { min, median, max } = spreadOf(values);
  return `${format(min)} / ${format(median)} / ${format(max)}`;
};
const times = (ratio: number): string => `${ratio.toFixed(2)}×`;

function comparisonTable(comparisons: Comparison[], subject: string, peer: string): string {
  const rows = comparisons.map(({ level, subject: ours, peer: theirs }) => {
    const ratio = (pick: (times: BlockTimes) => number): number[] => ours.map((run, index) => pick(run) / pick(theirs[index] as BlockTimes));
    return [
      level,
      spreadText(
        ours.map((run) => run.wall),
        us,
      ),
      spreadText(
        theirs.map((run) => run.wall),
        us,
      ),
      spreadText(
        ratio((run) => run.wall),
        times,
      ),
      spreadText(
        ratio((run) => run.cpu),
        times,
      ),
      `${us(spreadOf(ours.map((run) => run.main)).median)} / ${us(spreadOf(theirs.map((run) => run.main)).median)}`,
    ];
  });
  return formatTextTable(['', `${subject}, µs/task`, `${peer}, µs/task`, 'wall ratio', 'CPU ratio', 'main thread busy, µs/task'], rows, { markdown: true, alignRight: [1, 2, 3, 4, 5] });
}

/** The defaults (task scope, simulated Telegram) with quiet logs, the benchmark's threads and `accounts` simulated accounts. */
function runtimeConfig(accounts: number): FleetConfig {
  const config = defaultConfig();
  config.logging.level = 'silent';
  config.runtime.workers = THREADS;
  config.telegram.simulated.accounts = accounts;
  return config;
}

async function taskComparison(tasks: number, repetitions: number): Promise<Comparison[]> {
  const config = runtimeConfig(LOADED);
  const runtime = await FleetRuntime.start({ config });
  const pool = new Piscina({
    filename: fileURLToPath(resolveTaskModule('noop')),
    minThreads: THREADS,
    maxThreads: THREADS,
    concurrentTasksPerWorker: config.runtime.tasksPerWorker,
    idleTimeout: Infinity,
    atomics: ATOMICS,
  });
  try {
    const accounts = runtime.accounts;
    const ours: Side = { label: 'FleetRuntime', run: (index) => runtime.run({ account: accounts[index % accounts.length] as string, task: 'noop' }) };
    const bare: Side = { label: 'Piscina', run: () => pool.run({}) };
    return [await interleave(ours, bare, 'idle: 1 task in flight', 1, tasks, repetitions), await interleave(ours, bare, `loaded: ${LOADED} tasks in flight`, LOADED, tasks * 2, repetitions)];
  } finally {
    await runtime.shutdown();
    await pool.destroy();
  }
}

/** The same runtime and no-op tasks, spread over many accounts or few: what an account costs the task path, Telegram aside. */
async function accountComparison(many: number, tasks: number, repetitions: number): Promise<Comparison[]> {
  const runtime = await FleetRuntime.start({ config: runtimeConfig(many) });
  try {
    const accounts = runtime.accounts;
    // Every account's client connected first: this measures running tasks, not connecting.
    await Promise.all(accounts.map((account) => runtime.run({ account, task: 'noop' })));
    const spread = (count: number): Side => ({ label: `${count} accounts`, run: (index) => runtime.run({ account: accounts[index % count] as string, task: 'noop' }) });
    return [await interleave(spread(many), spread(FEW_ACCOUNTS), `${FEW_ACCOUNTS} tasks in flight`, FEW_ACCOUNTS, tasks, repetitions)];
  } finally {
    await runtime.shutdown();
  }
}

/**
 * A worker holding a task channel and a bare port to the main thread, both answering from one
 * cache of one account. `run` has it make one batch of round trips of `op`.
 */
function channelCase(label: string, op: ChannelOp): BenchCase {
  return {
    label,
    setup: async () => {
      const cache = new TelegramCache({ maxSize: 1000 });
      for (const [index, key] of KEYS.entries()) cache.set(ACCOUNT, key, RECORDS[index]);
      const endpoint = new AccountEndpoint(cache, ACCOUNT, 'bench', {
        singleFlight: new SingleFlight(30_000),
        flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0 }),
      });
      const channel = new MessageChannel();
      const served = new ChannelServer(channel.port1);
      new ServedTask(1, endpoint).attach(served);
      const raw = new MessageChannel();
      raw.port1.on('message', (request: string | string[]) => {
        raw.port1.postMessage(Array.isArray(request) ? request.map((key) => cache.get(ACCOUNT, key)) : cache.get(ACCOUNT, request));
      });
      const control = new MessageChannel();
      const data: ChannelWorkerData = { control: control.port2, channel: channel.port2, raw: raw.port2, keys: KEYS, roundTripsPerOp: ROUND_TRIPS_PER_OP };
      const worker = new Worker(join(repositoryRoot(), 'dist', 'bench', 'channel-worker.js'), { workerData: data, transferList: [control.port2, channel.port2, raw.port2] });
      await once(worker, 'online');
      const batch = (port: MessagePort): Promise<unknown> => {
        const done = once(port, 'message');
        port.postMessage(op);
        return done;
      };
      return {
        run: () => batch(control.port1),
        teardown: async () => {
          served.close();
          raw.port1.close();
          control.port1.close();
          await worker.terminate();
        },
      };
    },
  };
}

/** Main-thread CPU time of `work`, in ms: nothing else runs on this thread meanwhile, and no worker takes part. */
async function mainThreadMs(work: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e3;
}

/** A scheduler as the runtime makes it, one task at a time: the queue is the account's alone. */
function oneAtATime(): Scheduler {
  return new Scheduler({ globalConcurrency: 1, perAccountConcurrency: 1, maxQueue: QUEUED * 2, cooldownRemaining: () => 0, onCooldown: 'wait' });
}

/** Queues `QUEUED` no-op tasks of one account and runs them all, in order. */
async function runQueued(): Promise<void> {
  const scheduler = oneAtATime();
  const noop = async (): Promise<null> => null;
  const results: Promise<unknown>[] = [];
  for (let index = 0; index < QUEUED; index++) results.push(scheduler.submit(ACCOUNT, noop));
  await Promise.all(results);
}

/** Queues `QUEUED` tasks of one account behind one that holds its place, then aborts them with one signal. */
async function abortQueued(): Promise<void> {
  const scheduler = oneAtATime();
  let release: () => void = () => {};
  const holder = scheduler.submit(ACCOUNT, () => new Promise<void>((resolve) => (release = resolve)));
  const controller = new AbortController();
  const queued: Promise<unknown>[] = [];
  for (let index = 0; index < QUEUED; index++) queued.push(scheduler.submit(ACCOUNT, async () => null, controller.signal).catch(() => undefined));
  controller.abort();
  await Promise.all(queued);
  release();
  await holder;
}

/**
 * The same abort through FleetRuntime.run: `QUEUED` no-op tasks of one account queued behind one
 * that holds the account, each with its own task id, aborted by one signal before any starts.
 */
async function abortQueuedInRuntime(runtime: FleetRuntime): Promise<void> {
  const account = runtime.accounts[0] as string;
  // Started at once (the account runs one task at a time by default); the rest wait behind it.
  const holder = runtime.run({ account, task: 'noop' });
  const controller = new AbortController();
  const queued: Promise<unknown>[] = [];
  for (let index = 0; index < QUEUED; index++) queued.push(runtime.run({ account, task: 'noop', signal: controller.signal }).catch(() => undefined));
  controller.abort();
  await Promise.all(queued);
  await holder;
}

interface QueueScale {
  label: string;
  ms: number[];
}

async function queueScale(repetitions: number): Promise<QueueScale[]> {
  const config = runtimeConfig(FEW_ACCOUNTS);
  config.runtime.maxQueue = QUEUED * 2;
  config.runtime.perAccountConcurrency = 1;
  const runtime = await FleetRuntime.start({ config });
  const cases: { label: string; work: () => Promise<unknown> }[] = [
    { label: `scheduler: queue and run ${QUEUED.toLocaleString('en')} no-op tasks of one account`, work: runQueued },
    { label: `scheduler: queue ${QUEUED.toLocaleString('en')} tasks of one account and abort them`, work: abortQueued },
    { label: `FleetRuntime.run: queue ${QUEUED.toLocaleString('en')} tasks of one account and abort them`, work: () => abortQueuedInRuntime(runtime) },
  ];
  try {
    const results = cases.map(({ label }) => ({ label, ms: [] as number[] }));
    // A warm-up of each, then the cases take turns.
    for (const { work } of cases) await work();
    for (let round = 0; round < repetitions; round++) {
      for (const [index, { work }] of cases.entries()) (results[index] as QueueScale).ms.push(await mainThreadMs(work));
    }
    return results;
  } finally {
    await runtime.shutdown();
  }
}

function queueScaleTable(results: QueueScale[]): string {
  const ms = (value: number): string => value.toFixed(0);
  return formatTextTable(
    ['', 'main-thread CPU, ms (min / median / max)', 'µs per task (median)'],
    results.map(({ label, ms: runs }) => [label, spreadText(runs, ms), ((spreadOf(runs).median * 1e3) / QUEUED).toFixed(2)]),
    { markdown: true, alignRight: [1, 2] },
  );
}

/**
 * Runs every comparison and returns the section of bench/RESULTS.md; the run-all script calls
 * it, and so does running this file directly, which also puts the section in place.
 */
export async function runRuntimeBench(options: BenchOptions = {}): Promise<string> {
  const quick = options.quick ?? quickFromEnv();
  const repetitions = options.repetitions ?? (quick ? 1 : 5);
  const tasks = quick ? 200 : 2000;
  const many = quick ? 64 : 1000;
  const config = runtimeConfig(LOADED);
  const task = await taskComparison(tasks, repetitions);
  const accounts = await accountComparison(many, tasks, repetitions);
  const queues = await queueScale(Math.max(3, repetitions));
  const channel = await runPairs(
    {
      name: 'runtime-channel',
      notes: { roundTripsPerOp: ROUND_TRIPS_PER_OP, getManyKeys: KEYS.length, value: 'a record of a real GramJS channel per key (see sample-records.ts)', sameCacheBothSides: true },
      pairs: [
        { name: `get, ${ROUND_TRIPS_PER_OP} worker→main round trips`, subject: channelCase('cache channel', 'get'), peer: channelCase('MessagePort', 'raw get') },
        { name: `getMany(${KEYS.length}), ${ROUND_TRIPS_PER_OP} round trips`, subject: channelCase('cache channel', 'getMany'), peer: channelCase('MessagePort', 'raw getMany') },
      ],
    },
    { ...options, quick, print: () => {} },
  );
  const section = [
    `## ${TITLE}`,
    '',
    `Regenerate with \`${RUNTIME_COMMAND}\`${quick ? ' (QUICK MODE: not for comparison)' : ''}; measured ${new Date().toISOString().slice(0, 10)} on ${THREADS} worker threads, Node ${process.version}, load average ${loadavg()[0]?.toFixed(1)} at the end.`,
    '',
    `**A no-op task** (\`tasks/noop\`, returns null) through \`FleetRuntime.run\` (defaults: ${config.cache.scope} scope, simulated Telegram, ${config.runtime.tasksPerWorker} tasks per worker) against the same module on a bare Piscina pool with the same threads, tasks per thread and atomics setting. Blocks of ${tasks} tasks (twice that loaded) take turns, ${repetitions} of each, min / median / max per task; the ratios are of blocks run side by side. CPU is the whole process's (every thread), main thread busy its event loop's active time.`,
    '',
    comparisonTable(task, 'FleetRuntime', 'Piscina'),
    '',
    `**Accounts.** The same runtime and no-op tasks, every account's client connected first, spread round-robin over ${many} accounts against ${FEW_ACCOUNTS}:`,
    '',
    comparisonTable(accounts, `${many} accounts`, `${FEW_ACCOUNTS} accounts`),
    '',
    `### ${QUEUED.toLocaleString('en')} queued tasks of one account`,
    '',
    `Main-thread CPU time (\`process.cpuUsage\`; no worker takes part) to queue ${QUEUED.toLocaleString('en')} no-op tasks of one account and run them, one at a time as the account allows, and to queue as many behind a task that holds the account and abort them all with one signal; ${Math.max(3, repetitions)} runs each, taking turns after a warm-up. The bound is 1 s each.`,
    '',
    queueScaleTable(queues),
    '',
    '**Cache reads over the channel** against a bare MessagePort round trip answering from the same cache:',
    '',
    '```',
    formatTable(channel.record),
    '```',
  ].join('\n');
  (options.print ?? console.log)(section);
  return section;
}

/** Puts the section in place of its old copy in bench/RESULTS.md, leaving every other section as it is. */
export function publishSection(title: string, section: string): void {
  const file = join(repositoryRoot(), 'bench', 'RESULTS.md');
  const results = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const parts = results.split(/^(?=## )/m);
  const at = parts.findIndex((part) => part.startsWith(`## ${title}\n`));
  if (at < 0) parts.push(`${section}\n\n`);
  else parts[at] = `${section}\n\n`;
  writeFileSync(file, `${parts.join('').trimEnd()}\n`);
}

if (isMain(import.meta.url)) publishSection(TITLE, await runRuntimeBench());
