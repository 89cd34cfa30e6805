/**
 * A worker thread that reads a shared cache the way a task would, either through a tgfleet cache
 * channel or from Redis through ioredis, and reports when a burst of reads is done. The benchmark
 * times the bursts; both sides pay the same one message per burst to start and finish it.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { WorkerLink } from '../src/channel/worker-link.js';

export type ClientWorkerData = { mode: 'channel'; port: MessagePort; keys: string[] } | { mode: 'redis'; url: string; keys: string[] };

export interface BurstRequest {
  op: 'get' | 'getMany';
  /** Reads in the burst; a getMany reads every key at once. */
  count: number;
}

const data = workerData as ClientWorkerData;
const keys = data.keys;

type Reader = { get(key: string): Promise<unknown>; getMany(keys: string[]): Promise<unknown> };

function reader(): Reader {
  if (data.mode === 'channel') {
    const channel = new WorkerLink(data.port).open(1);
    return { get: (key) => channel.get(key), getMany: (many) => channel.getMany(many) };
  }
  const redis = new Redis(data.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  return { get: (key) => redis.getBuffer(key), getMany: (many) => redis.mgetBuffer(...many) };
}

const cache = reader();
let cursor = 0;

parentPort?.on('message', async (request: BurstRequest) => {
  for (let i = 0; i < request.count; i++) {
    if (request.op === 'getMany') await cache.getMany(keys);
    else await cache.get(keys[cursor++ % keys.length] as string);
  }
  parentPort?.postMessage('done');
});
