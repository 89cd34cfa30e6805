/**
 * The Piscina worker entry: every task of every account runs through here. It stays thin; the
 * task lifecycle on this side of the channel is src/worker/task-runner.ts.
 */
import '../src/runtime/quiet-web-storage.js';
import { parentPort, threadId } from 'node:worker_threads';
import { CrashRecord } from '../src/channel/crash-record.js';
import type { WorkerPayload, WorkerReply } from '../src/channel/protocol.js';
import { offerLink } from '../src/channel/worker-link.js';
import { watchForCrashes } from '../src/worker/crash-watch.js';
import { runTask } from '../src/worker/task-runner.js';
import { disconnectClients } from '../src/worker/telegram-clients.js';

if (parentPort === null) throw new Error('workers/account-worker.js runs as a Piscina worker thread');
const crashRecord = new CrashRecord();
watchForCrashes(crashRecord);
/** This thread's link to the main thread, shared by all its tasks. */
const link = offerLink(parentPort, threadId, crashRecord.buffer);

export default async function accountWorker(payload: WorkerPayload): Promise<WorkerReply> {
  if ('ping' in payload) return 'pong';
  if ('disconnect' in payload) {
    await disconnectClients(payload.accounts);
    return 'disconnected';
  }
  return runTask(payload, link);
}
