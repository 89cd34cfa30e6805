/**
 * The Piscina worker entry: every task of every account runs through here. It stays thin; the
 * task lifecycle on this side of the channel is src/worker/task-runner.ts.
 */
import type { PingPayload, TaskOutcome, TaskPayload } from '../src/channel/protocol.js';
import { runTask } from '../src/worker/task-runner.js';

export default async function accountWorker(payload: TaskPayload | PingPayload): Promise<TaskOutcome | 'pong'> {
  if ('ping' in payload) return 'pong';
  return runTask(payload);
}
