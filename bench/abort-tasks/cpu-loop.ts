import { defineTask } from '../../src/worker/task-context.js';

export interface CpuLoopArgs {
  /** A BroadcastChannel the task says "spinning" on before it takes its worker's event loop. */
  announce: string;
  ms?: number;
}

/** Holds its worker's event loop for `ms` (30 s by default) without ever yielding. */
export default defineTask<CpuLoopArgs, number>(async ({ args }) => {
  const channel = new BroadcastChannel(args.announce);
  channel.postMessage('spinning');
  channel.close();
  const until = Date.now() + (args.ms ?? 30_000);
  let spins = 0;
  while (Date.now() < until) spins++;
  return spins;
});
