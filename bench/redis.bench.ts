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
import type { BurstRequest, ClientWorkerData } from './cache-client-worker.js';
import { sampleRecords } from './sample-records.js';
import { runPairs, type BenchCase, type BenchOptions, type BenchRun } from './harness.js';
import { isMain } from './bench-env.js';

/*
 * The main-thread shared cache against Redis on loopback, the usual way to share a cache between
 * worker threads. Both are read from a worker thread, one key at a time and 64 keys at once
 * (getMany against MGET). Values are records of real GramJS channels (see sample-records.ts).
 * Each timed operation is a burst of BURST reads; times are reported per burst.
 */

const ACCOUNT = '+15550000001';
const KEY_COUNT = 64;
export const BURST = 50;
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

function burstRunner(worker: Worker, request: BurstRequest): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      worker.once('message', () => resolve());
      worker.postMessage(request);
    });
}

function channelCase(op: BurstRequest['op']): BenchCase {
  return {
    label: 'tgfleet channel',
    setup: () => {
      const cache = new TelegramCache({ maxSize: 10_000, defaultTtlMs: 3_600_000 });
      for (const [index, key] of KEYS.entries()) cache.set(ACCOUNT, key, RECORDS[index]);
      const endpoint = new AccountEndpoint(cache, ACCOUNT, 'bench', { singleFlight: new SingleFlight(30_000), flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0 }) });
      const { port1, port2 } = new MessageChannel();
      const served = new ChannelServer(port1);
      new ServedTask(1, endpoint).attach(served);
      const data: ClientWorkerData = { mode: 'channel', port: port2, keys: KEYS };
      const worker = new Worker(workerFile(), { workerData: data, transferList: [port2] });
      return {
        run: burstRunner(worker, { op, count: BURST }),
        teardown: async () => {
          served.close();
          await worker.terminate();
        },
      };
    },
  };
}

function redisCase(op: BurstRequest['op'], url: string): BenchCase {
  return {
    label: 'Redis (ioredis, loopback)',
    setup: async () => {
      const seed = new Redis(url);
      await seed.mset(...KEYS.flatMap((key, index) => [key, REDIS_VALUES[index] as Buffer]));
      seed.disconnect();
      const data: ClientWorkerData = { mode: 'redis', url, keys: KEYS };
      const worker = new Worker(workerFile(), { workerData: data });
      return { run: burstRunner(worker, { op, count: BURST }), teardown: () => worker.terminate().then(() => undefined) };
    },
  };
}

export async function runRedisBench(options: BenchOptions = {}): Promise<BenchRun | { skipped: string }> {
  const redis = await findRedis();
  if ('skip' in redis) {
    (options.print ?? console.log)(redis.skip);
    return { skipped: redis.skip };
  }
  try {
    return await runPairs(
      {
        name: 'shared-cache-vs-redis',
        notes: {
          readsPerOp: BURST,
          keysPerGetMany: KEY_COUNT,
          valueBytes: `a real channel record (${RECORDS[0]?.tl.length ?? 0} TL bytes) per key; Redis holds the TL bytes alone`,
          peer: `${redis.url} through ioredis, from a worker thread`,
          subject: 'TelegramCache on the main thread through a task cache channel (hot calls), from a worker thread',
        },
        pairs: [
          { name: `get x${BURST}`, subject: channelCase('get'), peer: redisCase('get', redis.url) },
          { name: `getMany(${KEY_COUNT}) x${BURST}`, subject: channelCase('getMany'), peer: redisCase('getMany', redis.url) },
        ],
      },
      options,
    );
  } finally {
    redis.stop();
  }
}

if (isMain(import.meta.url)) await runRedisBench();
