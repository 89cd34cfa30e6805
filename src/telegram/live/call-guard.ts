/**
 * Bounds every call a live GramJS client makes. GramJS itself waits forever: a stalled socket, a
 * data centre that stopped answering or a session it rejected at the transport level leave
 * `invoke` pending with no error. The guard wraps the client's `invoke` (which all of GramJS's
 * helpers go through) so a call ends within the timeout, and a revoked session fails this and
 * every later call at once with a {@link SessionRevokedError}. A key the data centre saw on two
 * connections at once gives this client up with an {@link AuthKeyDuplicatedError}.
 */
import type { Api, TelegramClient } from 'telegram';
import { sessionFailure, TelegramCallTimeoutError } from './session-errors.js';

export interface CallGuardOptions {
  account: string;
  timeoutMs: number;
  /** The client cannot be used again (revoked, or a call timed out): drop it so the next task makes a new one. */
  onBroken(error: Error): void;
}

export interface CallGuard {
  /** Fails pending and later calls with `error`, e.g. when the data centre rejected the auth key. */
  fail(error: Error): void;
}

type Invoke = TelegramClient['invoke'];

export function guardCalls(client: TelegramClient, options: CallGuardOptions): CallGuard {
  const invoke: Invoke = client.invoke.bind(client);
  const pending = new Set<(error: Error) => void>();
  let broken: Error | undefined;
  const fail = (error: Error): void => {
    if (broken !== undefined) return;
    broken = error;
    for (const reject of [...pending]) reject(error);
    pending.clear();
    options.onBroken(error);
  };
  const guarded = ((request: Api.AnyRequest, ...rest: unknown[]) => {
    if (broken !== undefined) return Promise.reject(broken);
    return new Promise((resolve, reject) => {
      const settle = (error: Error): void => {
        clearTimeout(timer);
        pending.delete(settle);
        reject(error);
      };
      const timer = setTimeout(() => {
        settle(new TelegramCallTimeoutError(options.account, request.className, options.timeoutMs));
        fail(new TelegramCallTimeoutError(options.account, request.className, options.timeoutMs));
      }, options.timeoutMs);
      pending.add(settle);
      (invoke as (...args: unknown[]) => Promise<unknown>)(request, ...rest).then(
        (value) => {
          clearTimeout(timer);
          pending.delete(settle);
          resolve(value);
        },
        (error: unknown) => {
          const fatal = sessionFailure(options.account, error);
          settle(fatal ?? (error as Error));
          if (fatal !== undefined) fail(fatal);
        },
      );
    });
  }) as Invoke;
  client.invoke = guarded;
  return { fail };
}
