/**
 * What every Telegram call of a task passes through in its worker, whatever the mode: a revoked
 * task's calls are refused, a call that changes something on Telegram is declared to the main
 * thread first, and in simulated mode a call that gets no answer fails after telegram.call_timeout
 * (the live client bounds its own calls, src/telegram/live/call-guard.ts).
 */
import type { Api, TelegramClient } from 'telegram';
import { TelegramCallTimeoutError } from '../telegram/live/session-errors.js';
import { currentTask } from './task-scope.js';

/**
 * Telegram's read methods are named for what they read (users.GetUsers, contacts.ResolveUsername,
 * messages.Search, channels.CheckUsername); everything else may change something, including a
 * method this list has never heard of, so a wrong guess costs a retry, never a repeated write.
 */
const READ_METHOD = /^(Get|Resolve|Search|Check)[A-Z]/;

interface Wrapped {
  className: string;
  query?: unknown;
}

/** The request a wrapper (InvokeWithLayer, InvokeAfterMsg…) carries is the one that counts. */
export function requestMethod(request: Api.AnyRequest): string {
  let inner = request as unknown as Wrapped;
  while (inner.className.startsWith('Invoke') && typeof inner.query === 'object' && inner.query !== null) inner = inner.query as Wrapped;
  return inner.className;
}

export function changesTelegram(method: string): boolean {
  return !READ_METHOD.test(method.slice(method.lastIndexOf('.') + 1));
}

export interface TaskCallOptions {
  account: string;
  /** Bounds each call in simulated mode; null where the client bounds its own calls. */
  callTimeoutMs: number | null;
}

type Invoke = TelegramClient['invoke'];

function withTimeout<T>(call: Promise<T>, options: TaskCallOptions, method: string): Promise<T> {
  const timeoutMs = options.callTimeoutMs;
  if (timeoutMs === null) return call;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TelegramCallTimeoutError(options.account, method, timeoutMs)), timeoutMs);
    call.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Wraps the shared client's `invoke`, which every GramJS helper goes through, once per client. */
export function guardTaskCalls(client: TelegramClient, options: TaskCallOptions): void {
  const invoke = client.invoke.bind(client) as (...args: unknown[]) => Promise<unknown>;
  client.invoke = (async (request: Api.AnyRequest, ...rest: unknown[]) => {
    const task = currentTask();
    const method = requestMethod(request);
    // A call outside any task is the client's own (a reconnect, a ping), and one from a task that ended is no longer the runtime's to judge.
    if (task !== undefined) {
      const revoked = task.channel.revocation;
      if (revoked !== null) throw revoked;
      if (!task.channel.ended && changesTelegram(method)) await task.channel.declareWrite(method);
    }
    return withTimeout(invoke(request, ...rest), options, method);
  }) as Invoke;
}
