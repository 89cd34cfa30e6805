import { once } from 'node:events';
import { availableParallelism } from 'node:os';
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
import { resolveTaskModule } from '../src/runtime/module-paths.js';
import { SingleFlight } from '../src/runtime/single-flight.js';
import type { ChannelOp, ChannelWorkerData } from './channel-worker.js';
import { sampleRecords } from './sample-records.js';
import { runPairs, type BenchCase, type BenchOptions, type BenchRun } from './harness.js';
import { isMain, repositoryRoot } from './bench-env.js';

/*
 * Two comparisons, each against the bare mechanism underneath:
 *  - a no-op task through FleetRuntime.run (scheduler, cache lease, a fresh comlink channel, the
 *    account's reused client, flush and close, events) against the same no-op module run by a
 *    bare Piscina pool with the same thread count and the same atomics setting;
 *  - cache reads a worker makes over a task's channel (comlink, the method guard, the account
 *    endpoint) against a bare MessagePort round trip answering from the same cache.
 * Workers run compiled code, so `npm run build` must have run, whether this runs from dist/ or
 * from sources.
 */

const THREADS = Math.min(2, availableParallelism());
/** The runtime's setting: a parked worker ('sync') may miss port messages between tasks. */
const ATOMICS = 'disabled';
const ACCOUNT = '+15550000001';
const KEYS = Array.from({ length: 64 }, (_, index) => `user:${index}`);
const RECORDS = sampleRecords(KEYS.length);
/** Round trips per timed operation; the control message that starts a batch is spread over them. */
const ROUND_TRIPS_PER_OP = 32;

/** The defaults (task scope, simulated Telegram) with quiet logs and the benchmark's thread count. */
function runtimeConfig(): FleetConfig {
  const config = defaultConfig();
  config.logging.level = 'silent';
  config.runtime.workers = THREADS;
  return config;
}

function runtimeCase(): BenchCase {
  return {
    label: 'FleetRuntime',
    setup: async () => {
      const runtime = await FleetRuntime.start({ config: runtimeConfig() });
      const [account] = runtime.accounts;
      if (account === undefined) throw new Error('the simulated fleet has no accounts');
      return { run: () => runtime.run({ account, task: 'noop' }), teardown: () => runtime.shutdown() };
    },
  };
}

function piscinaCase(): BenchCase {
  return {
    label: 'Piscina',
    setup: () => {
      const pool = new Piscina({ filename: fileURLToPath(resolveTaskModule('noop')), minThreads: THREADS, maxThreads: THREADS, idleTimeout: Infinity, atomics: ATOMICS });
      return { run: () => pool.run({}), teardown: () => pool.destroy() };
    },
  };
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

/** Runs both comparisons; the run-all script calls it, and so does running this file directly. */
export async function runRuntimeBench(options: BenchOptions = {}): Promise<BenchRun[]> {
  const config = runtimeConfig();
  const task = await runPairs(
    {
      name: 'runtime-task',
      notes: { threads: THREADS, atomics: ATOMICS, task: 'tasks/noop (returns null)', tasksInFlight: 1, runtimeCacheScope: config.cache.scope, runtimeTelegram: config.telegram.mode },
      pairs: [{ name: 'no-op task, one at a time', subject: runtimeCase(), peer: piscinaCase() }],
    },
    options,
  );
  const channel = await runPairs(
    {
      name: 'runtime-channel',
      notes: { roundTripsPerOp: ROUND_TRIPS_PER_OP, getManyKeys: KEYS.length, value: 'a record of a real GramJS channel per key (see sample-records.ts)', sameCacheBothSides: true },
      pairs: [
        { name: `get, ${ROUND_TRIPS_PER_OP} worker→main round trips`, subject: channelCase('cache channel', 'get'), peer: channelCase('MessagePort', 'raw get') },
        { name: `getMany(${KEYS.length}), ${ROUND_TRIPS_PER_OP} round trips`, subject: channelCase('cache channel', 'getMany'), peer: channelCase('MessagePort', 'raw getMany') },
      ],
    },
    options,
  );
  return [task, channel];
}

if (isMain(import.meta.url)) await runRuntimeBench();
