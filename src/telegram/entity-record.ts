/*
 * Peers as the cache keeps them. A cache value crosses threads by structured clone, which strips
 * GramJS objects of their prototypes and turns big-integer access hashes into plain objects, so a
 * peer is stored as plain data: the fields an input peer needs, and the TL bytes of the whole
 * object, from which `getEntity` rebuilds a real `Api` object. The bytes travel as a Latin-1
 * string, one character a byte: a typed array costs structured clone a buffer of its own per
 * record, a third more time on a 64-record batch (measured with v8.serialize).
 */
import { Api, helpers } from 'telegram';
import type { Entity } from 'telegram/define.js';
import { BinaryReader } from 'telegram/extensions/index.js';

export type PeerType = 'user' | 'channel' | 'chat';

export interface EntityRecord {
  /** The bare (unmarked) id, in decimal: Telegram ids are 64-bit. */
  id: string;
  type: PeerType;
  /** This account's access hash, in decimal; basic groups have none. */
  accessHash?: string;
  /** Lowercase, active ones only. */
  usernames: string[];
  phone?: string;
  /** When the record was made, in ms since the epoch. */
  updated: number;
  /** `getBytes()` of the full User, Channel or Chat, one Latin-1 character a byte. */
  tl: string;
}

/** Telegram's answer that a username leads nowhere, remembered for a short while. */
export type MissingUsernameReason = 'USERNAME_NOT_OCCUPIED' | 'USERNAME_INVALID';

export interface MissingUsernameRecord {
  missing: MissingUsernameReason;
  updated: number;
}

export function isEntityRecord(value: unknown): value is EntityRecord {
  const record = value as Partial<EntityRecord> | null;
  return typeof record === 'object' && record !== null && typeof record.id === 'string' && typeof record.tl === 'string';
}

export function isMissingUsernameRecord(value: unknown): value is MissingUsernameRecord {
  const record = value as Partial<MissingUsernameRecord> | null;
  return typeof record === 'object' && record !== null && (record.missing === 'USERNAME_NOT_OCCUPIED' || record.missing === 'USERNAME_INVALID');
}

function usernamesOf(entity: Api.User | Api.Channel): string[] {
  const names = new Set<string>();
  if (entity.username) names.add(entity.username.toLowerCase());
  for (const extra of entity.usernames ?? []) if (extra.active) names.add(extra.username.toLowerCase());
  return [...names];
}

/**
 * The record of a User, Channel or Chat, or undefined for anything else. A `min` user or channel
 * (seen as a message author, say) carries a hash that only works inside that message's context,
 * so it is not a peer the cache may hand out.
 */
export function recordOf(entity: unknown, now: number): EntityRecord | undefined {
  const base = (type: PeerType, value: Api.User | Api.Channel | Api.Chat) => ({
    id: value.id.toString(),
    type,
    updated: now,
    tl: value.getBytes().toString('latin1'),
  });
  if (entity instanceof Api.User || entity instanceof Api.Channel) {
    if (entity.min || entity.accessHash === undefined) return undefined;
    const type: PeerType = entity instanceof Api.User ? 'user' : 'channel';
    const phone = entity instanceof Api.User ? entity.phone : undefined;
    return { ...base(type, entity), accessHash: entity.accessHash.toString(), usernames: usernamesOf(entity), ...(phone && { phone }) };
  }
  if (entity instanceof Api.Chat) return { ...base('chat', entity), usernames: [] };
  return undefined;
}

/** The id GramJS's `getPeerId` gives: users as is, basic groups negated, channels prefixed -100. */
export function markedIdOf(record: Pick<EntityRecord, 'id' | 'type'>): string {
  if (record.type === 'user') return record.id;
  return record.type === 'chat' ? `-${record.id}` : `-100${record.id}`;
}

/** Builds the input peer from the record's fields, without decoding the bytes. */
export function inputPeerOf(record: EntityRecord): Api.TypeInputPeer {
  const id = helpers.returnBigInt(record.id);
  const accessHash = helpers.returnBigInt(record.accessHash ?? '0');
  if (record.type === 'user') return new Api.InputPeerUser({ userId: id, accessHash });
  if (record.type === 'channel') return new Api.InputPeerChannel({ channelId: id, accessHash });
  return new Api.InputPeerChat({ chatId: id });
}

export function entityOf(record: EntityRecord): Entity {
  return new BinaryReader(Buffer.from(record.tl, 'latin1')).tgReadObject() as Entity;
}

/** The users and chats a Telegram response carries, where GramJS's own entity cache finds them. */
export function entitiesIn(response: unknown): unknown[] {
  if (Array.isArray(response)) return response;
  if (typeof response !== 'object' || response === null) return [];
  const { users, chats, user } = response as { users?: unknown; chats?: unknown; user?: unknown };
  return [...(Array.isArray(users) ? users : []), ...(Array.isArray(chats) ? chats : []), ...(user === undefined ? [] : [user])];
}
