import type { ChannelClient } from '../channel/channel-client.js';
import type { TaskOutcome, TaskPayload, WorkerReply } from '../channel/protocol.js';
import { serializeError } from '../channel/remote-error.js';
import type { WorkerLink } from '../channel/worker-link.js';
import { importTaskModule } from '../module-paths.js';
import { createLogger, type Logger, type LogLevel } from '../telemetry/logger.js';
import type { TaskContext, TaskFunction } from './task-context.js';
import { clientForTask, releaseClient, type TaskClient } from './telegram-clients.js';
import { runInTask } from './task-scope.js';

const loggers = new Map<string, Logger>();

function workerLogger(level: string): Logger {
  let logger = loggers.get(level);
  if (logger === undefined) {
    logger = createLogger({ level: level as LogLevel, name: 'tgfleet-worker' });
    loggers.set(level, logger);
  }
  return logger;
}

/**
 * Each task module is imported once per worker: `import()` of a module already loaded still costs
 * a resolution and a promise per task. A module that failed to load is not kept, so a fixed file
 * is picked up by the next task.
 */
const taskFunctions = new Map<string, TaskFunction>();

async function loadTask(moduleUrl: string): Promise<TaskFunction> {
  const known = taskFunctions.get(moduleUrl);
  if (known !== undefined) return known;
  const module = await importTaskModule(moduleUrl);
  if (typeof module.default !== 'function') {
    throw new TypeError(`task module ${moduleUrl} must have an async function as its default export`);
  }
  taskFunctions.set(moduleUrl, module.default as TaskFunction);
  return module.default as TaskFunction;
}

/**
 * What a task's function receives. A class, so that every task shares its accessors: an object
 * literal with getters makes two functions per task. `logger` and `signal` are made only when the
 * task reads them; most tasks never do.
 */
class RunContext implements TaskContext {
  readonly account: string;
  readonly taskId: string;
  readonly args: unknown;
  /** Only what the logger needs is kept: the payload carries the account's credentials, which are no business of the task's. */
  readonly #logLevel: string;
  #logger: Logger | null = null;

  constructor(
    payload: TaskPayload,
    readonly cache: ChannelClient,
    readonly client: TaskClient,
  ) {
    this.account = payload.account.phone;
    this.taskId = payload.taskId;
    this.args = payload.args;
    this.#logLevel = payload.logLevel;
  }

  get logger(): Logger {
    this.#logger ??= workerLogger(this.#logLevel).child({ account: this.account, taskId: this.taskId });
    return this.#logger;
  }

  get signal(): AbortSignal {
    return this.cache.signal;
  }
}

/**
 * Runs one task in a worker thread. The outcome is plain data (a thrown error is serialized with
 * its Telegram fields) and leaves after every call the task made was answered, so every write
 * the task made is acknowledged by then: in Piscina's reply when it is plain data, else on the
 * worker's link, where a result that cannot cross threads fails as the task's own error and never
 * reaches Piscina (which would take the worker down with every other task on it).
 */
export async function runTask(payload: TaskPayload, link: WorkerLink): Promise<WorkerReply> {
  const channel = link.open(payload.binding);
  const outcome = await runInTask({ binding: payload.binding, channel }, () => outcomeOf(payload, channel));
  releaseClient(payload, channel);
  return await channel.finish(outcome);
}

async function outcomeOf(payload: TaskPayload, channel: ChannelClient): Promise<TaskOutcome> {
  try {
    const task = taskFunctions.get(payload.taskModule) ?? (await loadTask(payload.taskModule));
    const taken = clientForTask(payload, channel);
    // An account's later tasks find its client connected: they take it without a turn of the event loop.
    const client = taken instanceof Promise ? await taken : taken;
    const context = new RunContext(payload, channel, client);
    return { ok: true, value: await channel.unlessRevoked(task(context)) };
  } catch (error) {
    return { ok: false, error: serializeError(error) };
  }
}
