import { ChannelClient } from '../channel/channel-client.js';
import type { TaskOutcome, TaskPayload } from '../channel/protocol.js';
import { serializeError } from '../channel/remote-error.js';
import { createLogger, type Logger, type LogLevel } from '../telemetry/logger.js';
import type { TaskFunction } from './task-context.js';
import { clientForTask } from './telegram-clients.js';

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
 * A result that cannot be cloned would make Piscina throw inside the worker and take down every
 * other task on it, so it is checked here and turned into the task's own error.
 */
function crossable(value: unknown): unknown {
  try {
    structuredClone(value);
  } catch (error) {
    throw new TypeError(`the task's result must be plain data that can cross threads (no functions, class instances with methods or sockets): ${(error as Error).message}`);
  }
  return value;
}

async function loadTask(moduleUrl: string): Promise<TaskFunction> {
  const module = (await import(moduleUrl)) as { default?: unknown };
  if (typeof module.default !== 'function') {
    throw new TypeError(`task module ${moduleUrl} must have an async function as its default export`);
  }
  return module.default as TaskFunction;
}

/**
 * Runs one task in a worker thread. The outcome is plain data (a thrown error is serialized with
 * its Telegram fields), and the task's channel is flushed and closed before the outcome is
 * returned, so every write the task made is acknowledged by then.
 */
export async function runTask(payload: TaskPayload): Promise<TaskOutcome> {
  const channel = new ChannelClient(payload.port);
  try {
    const task = await loadTask(payload.taskModule);
    const client = await clientForTask(payload, channel);
    let logger: Logger | undefined;
    const value = await task({
      account: payload.account.phone,
      taskId: payload.taskId,
      args: payload.args,
      cache: channel,
      client,
      // Made when the task first logs: most tasks never do, and a child logger per task adds up.
      get logger() {
        logger ??= workerLogger(payload.logLevel).child({ account: payload.account.phone, taskId: payload.taskId });
        return logger;
      },
      signal: channel.signal,
    });
    await channel.flush();
    return { ok: true, value: crossable(value) };
  } catch (error) {
    await channel.flush();
    return { ok: false, error: serializeError(error) };
  } finally {
    await channel.close();
  }
}
