/**
 * The ways a live Telegram connection fails that a fleet must tell apart: a session Telegram no
 * longer accepts (the account must leave rotation until someone signs it in again), a call that
 * got no answer in time, and a data centre that cannot be reached. Each carries what an operator
 * needs to act, and never the session string itself.
 */

/** 401 answers (and transport error 404, an auth key the data centre does not know): the session is dead. */
export const REVOKING_ERRORS: ReadonlySet<string> = new Set(['AUTH_KEY_UNREGISTERED', 'SESSION_REVOKED', 'SESSION_EXPIRED', 'AUTH_KEY_INVALID', 'AUTH_KEY_PERM_EMPTY', 'USER_DEACTIVATED_BAN']);

export class SessionRevokedError extends Error {
  override readonly name = 'SessionRevokedError';
  readonly code = 401;

  constructor(
    readonly account: string,
    /** Telegram's reason, e.g. SESSION_REVOKED or AUTH_KEY_UNREGISTERED. */
    readonly errorMessage: string,
  ) {
    super(`account ${account}: Telegram no longer accepts its session (${errorMessage}); the account is out of rotation until it is signed in again and given a new session string`);
  }
}

export class TelegramCallTimeoutError extends Error {
  override readonly name = 'TelegramCallTimeoutError';

  constructor(
    readonly account: string,
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`account ${account}: Telegram did not answer ${method} within ${timeoutMs / 1000} s (telegram.call_timeout); the connection is dropped and the next call opens a new one`);
  }
}

export class TelegramUnreachableError extends Error {
  override readonly name = 'TelegramUnreachableError';

  constructor(
    readonly account: string,
    readonly address: string,
    detail: string,
  ) {
    super(`account ${account}: cannot connect to the Telegram data centre at ${address}: ${detail}`);
  }
}
