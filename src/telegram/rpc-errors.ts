/*
 * What Telegram's errors mean for the entity cache. GramJS has no classes for most of them: they
 * are `RPCError`s told apart by `errorMessage`.
 */
import { Api, errors } from 'telegram';
import type { MissingUsernameReason } from './entity-record.js';

/** Telegram no longer accepts the peer (or this account's hash for it): its cached entries are wrong. */
const INVALIDATING = new Set([
  'CHANNEL_PRIVATE',
  'CHANNEL_INVALID',
  'CHANNEL_PUBLIC_GROUP_NA',
  'CHAT_ID_INVALID',
  'PEER_ID_INVALID',
  'USER_ID_INVALID',
  'USER_DEACTIVATED',
  'USER_DEACTIVATED_BAN',
  'INPUT_USER_DEACTIVATED',
  'USERNAME_NOT_OCCUPIED',
]);

function errorMessageOf(error: unknown): string | undefined {
  return error instanceof errors.RPCError ? error.errorMessage : undefined;
}

export function invalidatesPeer(error: unknown): boolean {
  return INVALIDATING.has(errorMessageOf(error) ?? '');
}

/** The answers that are worth remembering for a username: asking again soon gives the same one. */
export function missingUsernameReason(error: unknown): MissingUsernameReason | undefined {
  const message = errorMessageOf(error);
  return message === 'USERNAME_NOT_OCCUPIED' || message === 'USERNAME_INVALID' ? message : undefined;
}

/** The wait a FLOOD_WAIT asks for, in seconds; undefined for any other error. */
export function floodWaitSeconds(error: unknown): number | undefined {
  return error instanceof errors.FloodWaitError ? error.seconds : undefined;
}

/**
 * The error GramJS's own `getEntity` raises for an unusable username, so a cached answer fails
 * exactly like a fresh one: it turns USERNAME_NOT_OCCUPIED into a plain Error and lets the
 * USERNAME_INVALID `RPCError` through.
 */
export function missingUsernameError(reason: MissingUsernameReason, username: string): Error {
  if (reason === 'USERNAME_NOT_OCCUPIED') return new Error(`No user has "${username}" as username`);
  const rpcError = new Api.RpcError({ errorCode: 400, errorMessage: reason });
  return errors.RPCMessageToError(rpcError, new Api.contacts.ResolveUsername({ username })) as Error;
}

/** How a task reports a failed peer: Telegram's own error text where there is one. */
export function telegramErrorText(error: unknown): string {
  return errorMessageOf(error) ?? (error instanceof Error ? error.message : String(error));
}
