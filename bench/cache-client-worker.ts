/**
 * A worker thread that looks records up the way tasks do, many at once, either through tgfleet
 * cache channels (one binding per simulated task, all on this worker's one link) or from Redis
 * through ioredis, and hands back the latency of every call.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { WorkerLink } from '../src/channel/worker-link.js';

export type ClientWorkerData = { mode: 'channel'; port: MessagePort; bindings: number[]; keys: string[] } | { mode: 'redis'; url: string; keys: string[] };

export interface SweepRequest {
  /** Lookups this worker keeps in flight: each loop awaits its call before making the next. */
  loops: number;
  callsPerLoop: number;
}

export interface SweepReply {
  /** Milliseconds each call took, in no particular order. */
  latencies: Float64Array;
}

const data = workerData as ClientWorkerData;
const keys = data.keys;

function lookups(): (loop: number, key: string) => Promise<unknown> {
  if (data.mode === 'channel') {
    const link = new WorkerLink(data.port);
    const tasks = data.bindings.map((binding) => link.open(binding));
    return (loop, key) => (tasks[loop % tasks.length] as (typeof tasks)[number]).lookup(key);
  }
  const redis = new Redis(data.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  return (_loop, key) => redis.getBuffer(key);
}

const lookup = lookups();

parentPort?.on('message', async (request: SweepRequest) => {
  const latencies = new Float64Array(request.loops * request.callsPerLoop);
  let written = 0;
  const loop = async (index: number): Promise<void> => {
    for (let call = 0; call < request.callsPerLoop; call++) {
      const start = performance.now();
      await lookup(index, keys[(index * 7 + call) % keys.length] as string);
      latencies[written++] = performance.now() - start;
    }
  };
  await Promise.all(Array.from({ length: request.loops }, (_, index) => loop(index)));
  const reply: SweepReply = { latencies };
  parentPort?.postMessage(reply, [latencies.buffer]);
});
