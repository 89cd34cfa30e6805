/**
 * The worker side of the channel benchmark. The main thread asks, over a control port, for a
 * batch of round trips of one kind; the worker runs them back to back and answers once, so the
 * control message's own cost is spread over the batch and both kinds pay it alike.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { WorkerLink } from '../src/channel/worker-link.js';

export type ChannelOp = 'get' | 'getMany' | 'raw get' | 'raw getMany';

export interface ChannelWorkerData {
  control: MessagePort;
  /** The worker end of a task channel, served on the main thread by an account endpoint. */
  channel: MessagePort;
  /** A bare port whose main end answers a key, or a list of keys, with the cache's values. */
  raw: MessagePort;
  keys: string[];
  roundTripsPerOp: number;
}

const { control, channel, raw, keys, roundTripsPerOp } = workerData as ChannelWorkerData;
const client = new WorkerLink(channel).open(1);
const [firstKey = ''] = keys;

/** One request in flight at a time, as in the batch: no ids to match, the bare cost of the port. */
let answer: ((value: unknown) => void) | null = null;
raw.on('message', (value: unknown) => {
  const resolve = answer;
  answer = null;
  resolve?.(value);
});
const rawRoundTrip = (request: string | string[]): Promise<unknown> =>
  new Promise((resolve) => {
    answer = resolve;
    raw.postMessage(request);
  });

const ops: Record<ChannelOp, () => Promise<unknown>> = {
  get: () => client.get(firstKey),
  getMany: () => client.getMany(keys),
  'raw get': () => rawRoundTrip(firstKey),
  'raw getMany': () => rawRoundTrip(keys),
};

control.on('message', async (op: ChannelOp) => {
  const roundTrip = ops[op];
  for (let index = 0; index < roundTripsPerOp; index++) await roundTrip();
  control.postMessage('done');
});
