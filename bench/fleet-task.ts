import { Api } from 'telegram';
import { defineTask } from '../src/worker/task-context.js';

export interface FleetBenchArgs {
  /** The task's place among its account's submissions. */
  seq: number;
  /** Usernames the task looks up: a warm cache answers them, a cold one asks Telegram. */
  peers: string[];
  /** Further Telegram calls no cache can answer (updates.getState), so the task waits on Telegram. */
  calls: number;
}

export interface FleetBenchResult {
  seq: number;
  account: string;
  startedAt: number;
  endedAt: number;
}

/** A latency-bound account task: entity lookups, then calls that wait on Telegram's reply. */
export default defineTask<FleetBenchArgs, FleetBenchResult>(async ({ client, args, account, signal }) => {
  const startedAt = Date.now();
  for (const peer of args.peers) {
    signal.throwIfAborted();
    await client.getEntity(peer);
  }
  for (let call = 0; call < args.calls; call++) {
    signal.throwIfAborted();
    await client.invoke(new Api.updates.GetState());
  }
  return { seq: args.seq, account, startedAt, endedAt: Date.now() };
});
