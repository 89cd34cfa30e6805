import type { AccountCache } from '../channel/channel-client.js';
import type { Logger } from '../telemetry/logger.js';
import type { TaskClient } from './telegram-clients.js';

/** What a task module's default export receives. */
export interface TaskContext<Args = unknown> {
  /** The account the task runs as (its phone number). */
  account: string;
  taskId: string;
  args: Args;
  /** The account's entries in the runtime's cache; other accounts' entries are out of reach. */
  cache: AccountCache;
  /** The account's Telegram client; entity lookups go through `cache`. */
  client: TaskClient;
  logger: Logger;
  /** Fires when the task is cancelled, times out or the runtime shuts down. */
  signal: AbortSignal;
}

export type TaskFunction<Args = unknown, Result = unknown> = (context: TaskContext<Args>) => Promise<Result>;

/** Gives a task module's default export its types; at run time it returns the function unchanged. */
export function defineTask<Args = unknown, Result = unknown>(task: TaskFunction<Args, Result>): TaskFunction<Args, Result> {
  return task;
}
