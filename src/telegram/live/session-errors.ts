/**
 * The ways a live Telegram connection fails that a fleet must tell apart: a session Telegram no
 * longer accepts (the account must leave rotation until someone signs it in again), a call that
 * got no answer in time, and a data centre that cannot be reached. Each carries what an operator
 * needs to act, and never the session string itself.
 */
import { errors } from 'telegram';

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

/**
 * 406 AUTH_KEY_DUPLICATED: the auth key is in use on another connection at the same moment (another
 * process or host runs this account). The client gives its connection up; the account's next task
 * connects again, and succeeds once the other user of the key has let go.
 */
export class AuthKeyDuplicatedError extends Error {
  override readonly name = 'AuthKeyDuplicatedError';
  readonly code = 406;
  readonly errorMessage = 'AUTH_KEY_DUPLICATED';

  constructor(readonly account: string) {
    super(
      `account ${account}: Telegram saw its auth key on two connections at once (AUTH_KEY_DUPLICATED): another process or host is running this account at the same time; this connection is given up`,
    );
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

/**
 * Failures of the account's connection rather than of one peer: every later call of the task would
 * meet them too, so a task that reports per-peer failures and goes on ends instead.
 */
export function isConnectionFailure(error: unknown): boolean {
  return error instanceof SessionRevokedError || error instanceof AuthKeyDuplicatedError || error instanceof TelegramCallTimeoutError || error instanceof TelegramUnreachableError;
}

/** Telegram's answers after which a client must not be used again, as the error that says so; undefined for any other error. */
export function sessionFailure(account: string, error: unknown): SessionRevokedError | AuthKeyDuplicatedError | undefined {
  if (!(error instanceof errors.RPCError)) return undefined;
  if (REVOKING_ERRORS.has(error.errorMessage)) return new SessionRevokedError(account, error.errorMessage);
  if (error.errorMessage === 'AUTH_KEY_DUPLICATED') return new AuthKeyDuplicatedError(account);
  return undefined;
}
