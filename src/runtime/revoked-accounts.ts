/**
 * Accounts whose session Telegram no longer accepts. A revoked session stays revoked until someone
 * signs the account in again, so after the first task that met it, the account's later tasks fail
 * at once with the same error instead of each opening a connection only to be refused; the other
 * accounts of the fleet are not touched.
 */
import { reviveError, type SerializedError } from '../channel/remote-error.js';
import type { Logger } from '../telemetry/logger.js';

/** The name a revoked session's error carries across threads (see src/telegram/live/session-errors.ts). */
const SESSION_REVOKED = 'SessionRevokedError';

export class RevokedAccounts {
  private readonly revoked = new Map<string, SerializedError>();

  constructor(private readonly logger: Logger) {}

  /** Takes the account out of rotation if a task of it failed because its session is revoked. */
  noteFailure(account: string, error: SerializedError): void {
    if (error.name !== SESSION_REVOKED || this.revoked.has(account)) return;
    this.revoked.set(account, {
      name: error.name,
      message: error.message,
      ...(error.code !== undefined && { code: error.code }),
      ...(error.errorMessage !== undefined && { errorMessage: error.errorMessage }),
    });
    this.logger.error({ account, reason: error.errorMessage }, 'account out of rotation: Telegram no longer accepts its session; its tasks fail until it is signed in again');
  }

  /** The error a task of an out-of-rotation account fails with; undefined for an account in rotation. */
  refusal(account: string): Error | undefined {
    const error = this.revoked.get(account);
    return error === undefined ? undefined : reviveError(error);
  }

  /** The accounts out of rotation, with Telegram's reason. */
  list(): ReadonlyMap<string, string> {
    return new Map([...this.revoked].map(([account, error]) => [account, error.errorMessage ?? error.name]));
  }
}
