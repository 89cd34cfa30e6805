import { AsyncLocalStorage } from 'node:async_hooks';
import type { ChannelClient } from '../channel/channel-client.js';

/** The task whose code is running: found from anywhere in its async call chain, GramJS's internals included. */
export interface TaskScope {
  binding: number;
  channel: ChannelClient;
}

/**
 * An account's GramJS client is shared by its tasks, and code deep inside GramJS cannot be told
 * which task called it; the async context can. The worker uses it to refuse a revoked task's
 * Telegram calls, to declare a task's writes, and to name the task that crashed the thread.
 */
const scopes = new AsyncLocalStorage<TaskScope>();

export function currentTask(): TaskScope | undefined {
  return scopes.getStore();
}

/** Told when a task's code starts running synchronously, which no async hook reports. */
let entered: (binding: number) => void = () => {};

export function onTaskEntry(listener: (binding: number) => void): void {
  entered = listener;
}

export function runInTask<T>(scope: TaskScope, work: () => T): T {
  return scopes.run(scope, () => {
    entered(scope.binding);
    return work();
  });
}

/**
 * Runs `work` outside any task: what outlives the task that started it (an account's shared
 * client, its timers and reconnects) must not carry that task's identity.
 */
export function outsideTask<T>(work: () => T): T {
  return scopes.exit(work);
}
