/**
 * The Piscina worker entry: every task of every account runs through here. It stays thin; the
 * task lifecycle on this side of the channel is src/worker/task-runner.ts.
 */
import type { WorkerPayload, WorkerReply } from '../src/channel/protocol.js';
import { runTask } from '../src/worker/task-runner.js';
import { disconnectClients } from '../src/worker/telegram-clients.js';

export default async function accountWorker(payload: WorkerPayload): Promise<WorkerReply> {
  if ('ping' in payload) return 'pong';
  if ('disconnect' in payload) {
    await disconnectClients(payload.accounts);
    return 'disconnected';
  }
  return runTask(payload);
}
