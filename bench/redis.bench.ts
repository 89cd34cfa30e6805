import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { TelegramCache } from '../src/cache/telegram-cache.js';
import { ChannelServer, ServedTask } from '../src/channel/channel-server.js';
import { AccountEndpoint } from '../src/runtime/account-endpoint.js';
import { FloodControl } from '../src/runtime/flood-control.js';
import { SingleFlight } from '../src/runtime/single-flight.js';
import type { ClientWorkerData, SweepReply, SweepRequest } from './cache-client-worker.js';
import { sampleRecords } from './sample-records.js';
import { spreadOf, type BenchOptions } from './harness.js';
import { isMain, quickFromEnv } from './bench-env.js';
import { publishSection } from './runtime.bench.js';
import { formatTable } from '../src/format/table.js';
import { loadavg } from 'node:os';
import { once } from 'node:events';

/*
 * The main-thread shared cache against Redis on loopback, the usual way to share a cache between
 * worker threads: tasks on the workers look records up, 2 to 256 lookups in flight across the
 * workers, through their cache channels (a hit answered by the main thread) or with GET from
 * Redis. Values are records of real GramJS channels (see sample-records.ts); Redis holds the same
 * TL bytes. At each level: throughput, p50 and p99 latency as the tasks see it, and the CPU the
 * serving side spends per call (the main thread's busy time; redis-server's own CPU).
 */

const ACCOUNT = '+15550000001';
const KEY_COUNT = 64;
const KEYS = Array.from({ length: KEY_COUNT }, (_, i) => `u:channel_${i}`);
const RECORDS = sampleRecords(KEY_COUNT);
/** Redis holds each record's TL bytes, the same bytes the main-thread cache carries in its records. */
const REDIS_VALUES = RECORDS.map((record) => Buffer.from(record.tl, 'latin1'));
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

function workerFile(): URL {
  // Workers run compiled JavaScript: next to this module when it runs from dist/, else in dist/.
  const here = new URL('./cache-client-worker.js', import.meta.url);
  const file = import.meta.url.endsWith('.ts') ? new URL('../dist/bench/cache-client-worker.js', import.meta.url) : here;
  if (!existsSync(file)) throw new Error('dist/bench/cache-client-worker.js is missing: run `npm run build` first');
  return file;
}

async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A Redis to measure against: the one on the standard port, else one started here, else none. */
async function findRedis(): Promise<{ url: string; stop: () => void } | { skip: string }> {
  if (await redisAnswers(DEFAULT_REDIS)) return { url: DEFAULT_REDIS, stop: () => {} };
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve());
    });
  } catch {
    return { skip: 'no Redis answers on 127.0.0.1:6379 and no redis-server binary could be started: the Redis rows are skipped' };
  }
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await redisAnswers(url)) return { url, stop: () => child.kill() };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill();
  return { skip: `redis-server started on port ${port} but never answered: the Redis rows are skipped` };
}

export const REDIS_COMMAND = 'npm run build && node dist/bench/redis.bench.js';
const TITLE = 'Shared cache against Redis';
export const LEVELS = [2, 8, 32, 128, 256] as const;
const THREADS = 2;

/** The serving side of one run: the workers that look up, and what the server spent. */
interface Server {
  workers: Worker[];
  /** CPU the serving side has used so far, in ms: the main thread's busy time, or redis-server's. */
  cpuMs: () => Promise<number>;
  close: () => Promise<void>;
}

async function channelServer(): Promise<Server> {
  const cache = new TelegramCache({ maxSize: 10_000, defaultTtlMs: 3_600_000, scope: 'process' });
  for (const [index, key] of KEYS.entries()) cache.set(ACCOUNT, key, RECORDS[index]);
  const services = { singleFlight: new SingleFlight(30_000), flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0 }) };
  const perWorker = Math.max(...LEVELS) / THREADS;
  const servers: ChannelServer[] = [];
  const workers = Array.from({ length: THREADS }, (_, thread) => {
    const { port1, port2 } = new MessageChannel();
    const server = new ChannelServer(port1);
    servers.push(server);
    const bindings = Array.from({ length: perWorker }, (_, index) => thread * perWorker + index + 1);
    for (const binding of bindings) new ServedTask(binding, new AccountEndpoint(cache, ACCOUNT, `task-${binding}`, services)).attach(server);
    const data: ClientWorkerData = { mode: 'channel', port: port2, bindings, keys: KEYS };
    return new Worker(workerFile(), { workerData: data, transferList: [port2] });
  });
  return {
    workers,
    cpuMs: async () => performance.eventLoopUtilization().active,
    close: async () => {
      for (const server of servers) server.close();
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}

async function redisServer(url: string): Promise<Server> {
  const admin = new Redis(url);
  await admin.mset(...KEYS.flatMap((key, index) => [key, REDIS_VALUES[index] as Buffer]));
  const workers = Array.from({ length: THREADS }, () => new Worker(workerFile(), { workerData: { mode: 'redis', url, keys: KEYS } satisfies ClientWorkerData }));
  return {
    workers,
    cpuMs: async () => {
      const info = await admin.info('cpu');
      const seconds = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
      return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
    },
    close: async () => {
      admin.disconnect();
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}

interface LevelRun {
  callsPerSecond: number;
  p50: number;
  p99: number;
  /** Serving CPU per call, in µs. */
  serverUs: number;
}

function percentile(sorted: Float64Array, share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? Number.NaN;
}

async function runLevel(server: Server, inFlight: number, calls: number): Promise<LevelRun> {
  const loops = inFlight / THREADS;
  const request: SweepRequest = { loops, callsPerLoop: Math.max(1, Math.round(calls / inFlight)) };
  const cpuBefore = await server.cpuMs();
  const start = performance.now();
  const replies = await Promise.all(
    server.workers.map((worker) => {
      const reply = once(worker, 'message') as Promise<[SweepReply]>;
      worker.postMessage(request);
      return reply;
    }),
  );
  const wallMs = performance.now() - start;
  const serverMs = (await server.cpuMs()) - cpuBefore;
  const all = new Float64Array(replies.reduce((sum, [reply]) => sum + reply.latencies.length, 0));
  let offset = 0;
  for (const [reply] of replies) {
    all.set(reply.latencies, offset);
    offset += reply.latencies.length;
  }
  all.sort();
  return { callsPerSecond: (all.length / wallMs) * 1000, p50: percentile(all, 0.5), p99: percentile(all, 0.99), serverUs: (serverMs * 1000) / all.length };
}

interface LevelResult {
  inFlight: number;
  channel: LevelRun[];
  redis: LevelRun[];
}

const median = (runs: LevelRun[], pick: (run: LevelRun) => number): number => spreadOf(runs.map(pick)).median;
const ms = (value: number): string => (value * 1000).toFixed(0);

function sweepTable(results: LevelResult[]): string {
  const rows = results.map(({ inFlight, channel, redis }) => {
    const ratios = spreadOf(channel.map((run, index) => run.callsPerSecond / (redis[index] as LevelRun).callsPerSecond));
    return [
      String(inFlight),
      `${Math.round(median(channel, (run) => run.callsPerSecond))} / ${Math.round(median(redis, (run) => run.callsPerSecond))}`,
      `${ratios.min.toFixed(2)}× / ${ratios.median.toFixed(2)}× / ${ratios.max.toFixed(2)}×`,
      `${ms(median(channel, (run) => run.p50))} / ${ms(median(redis, (run) => run.p50))}`,
      `${ms(median(channel, (run) => run.p99))} / ${ms(median(redis, (run) => run.p99))}`,
      `${median(channel, (run) => run.serverUs).toFixed(1)} / ${median(redis, (run) => run.serverUs).toFixed(1)}`,
    ];
  });
  return formatTable(
    ['in flight', 'lookups/s, tgfleet / Redis', 'throughput ratio (min / median / max)', 'p50 µs, tgfleet / Redis', 'p99 µs, tgfleet / Redis', 'server CPU µs/call, main thread / redis-server'],
    rows,
    {
      markdown: true,
      alignRight: [0, 1, 2, 3, 4, 5],
    },
  );
}

/** Runs the sweep and returns the section of bench/RESULTS.md, or says why there is no Redis to compare with. */
export async function runRedisBench(options: BenchOptions = {}): Promise<string> {
  const quick = options.quick ?? quickFromEnv();
  const print = options.print ?? console.log;
  const redis = await findRedis();
  if ('skip' in redis) {
    print(redis.skip);
    return `## ${TITLE}\n\n${redis.skip}`;
  }
  const repetitions = options.repetitions ?? (quick ? 1 : 3);
  const calls = quick ? 2000 : 40_000;
  const channel = await channelServer();
  const store = await redisServer(redis.url);
  try {
    const results: LevelResult[] = [];
    for (const inFlight of LEVELS) {
      const result: LevelResult = { inFlight, channel: [], redis: [] };
      // A warm-up of each side, then turns, the first side changing every repetition.
      await runLevel(channel, inFlight, calls / 4);
      await runLevel(store, inFlight, calls / 4);
      for (let round = 0; round < repetitions; round++) {
        const order = round % 2 === 0 ? (['channel', 'redis'] as const) : (['redis', 'channel'] as const);
        for (const side of order) result[side].push(await runLevel(side === 'channel' ? channel : store, inFlight, calls));
      }
      results.push(result);
    }
    const section = [
      `## ${TITLE}`,
      '',
      `Regenerate with \`${REDIS_COMMAND}\`${quick ? ' (QUICK MODE: not for comparison)' : ''}; measured ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, load average ${loadavg()[0]?.toFixed(1)} at the end.`,
      '',
      `Lookups of cached records from tasks on ${THREADS} worker threads, the lookups in flight split between them, each task awaiting its lookup before the next: through the task's cache channel (\`lookup\`, a hit the main thread answers from TelegramCache) against GET from ${redis.url} through ioredis (one connection per worker, its defaults). Records are real GramJS channels (${RECORDS[0]?.tl.length ?? 0} TL bytes; Redis holds the TL bytes alone). ${calls} lookups per run, ${repetitions} runs of each side taking turns; medians, and the throughput ratio's min / median / max. Server CPU is what serving cost per call: the main thread's busy time for tgfleet, redis-server's user and system CPU for Redis.`,
      '',
      sweepTable(results),
    ].join('\n');
    print(section);
    return section;
  } finally {
    await channel.close();
    await store.close();
    redis.stop();
  }
}

if (isMain(import.meta.url)) publishSection(TITLE, await runRedisBench());
