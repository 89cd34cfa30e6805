/*
 * How anything a caller may hand to `getEntity` becomes a cache key. Two spellings of one peer must
 * meet on one key, or the cache would resolve the same peer twice: usernames are matched the way
 * Telegram matches them (case-insensitive, '@name', 'name' and t.me links alike), and ids are
 * marked the way GramJS marks them (users as is, basic groups negated, channels prefixed -100).
 */
import { helpers, utils, type Api } from 'telegram';
import type { EntityLike } from 'telegram/define.js';

export function usernameKey(username: string): string {
  return `u:${username.toLowerCase()}`;
}

export function peerKey(markedId: string): string {
  return `p:${markedId}`;
}

export interface UsernameQuery {
  kind: 'username';
  key: string;
  /** Lowercase, without '@' or link. */
  username: string;
}

export interface PeerIdQuery {
  kind: 'peer';
  key: string;
  markedId: string;
  /** Present when the caller's value already carries the access hash, so no lookup is needed for an input peer. */
  input?: Api.TypeInputPeer;
}

/** Phone numbers, invite links, 'me' and strings GramJS rejects: GramJS handles them itself, uncached. */
export interface PassthroughQuery {
  kind: 'passthrough';
}

export type PeerQuery = UsernameQuery | PeerIdQuery | PassthroughQuery;

const PASSTHROUGH: PassthroughQuery = { kind: 'passthrough' };
const SELF_NAMES = new Set(['me', 'this', 'self']);

export function usernameQuery(username: string): UsernameQuery {
  const lower = username.toLowerCase();
  return { kind: 'username', key: usernameKey(lower), username: lower };
}

function peerIdQuery(markedId: string, input?: Api.TypeInputPeer): PeerIdQuery {
  return { kind: 'peer', key: peerKey(markedId), markedId, ...(input && { input }) };
}

function fromString(text: string): PeerQuery {
  const id = utils.parseID(text);
  if (id !== undefined) return peerIdQuery(utils.getPeerId(id));
  if (utils.parsePhone(text) !== undefined || SELF_NAMES.has(text.toLowerCase())) return PASSTHROUGH;
  const { username, isInvite } = utils.parseUsername(text);
  return username === undefined || isInvite ? PASSTHROUGH : usernameQuery(username);
}

/** GramJS throws for values that are not a peer or carry no usable hash (min users, InputPeerSelf). */
function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

export function queryOf(entity: EntityLike): PeerQuery {
  if (typeof entity === 'string') return fromString(entity);
  if (typeof entity !== 'object' || !('SUBCLASS_OF_ID' in entity)) return peerIdQuery(utils.getPeerId(helpers.returnBigInt(entity)));
  const markedId = attempt(() => utils.getPeerId(entity));
  if (markedId === undefined) return PASSTHROUGH;
  return peerIdQuery(
    markedId,
    attempt(() => utils.getInputPeer(entity)),
  );
}
