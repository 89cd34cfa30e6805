/*
 * Peers as the cache keeps them. A cache value crosses threads by structured clone, which strips
 * GramJS objects of their prototypes and turns big-integer access hashes into plain objects, so a
 * peer is stored as plain data: the fields an input peer needs, and the TL bytes of the whole
 * object, from which `getEntity` rebuilds a real `Api` object. In the cache a record is one
 * Latin-1 string (see `packRecord`), one byte a character: a single string is the cheapest value
 * V8 holds and the cheapest structured clone copies, where an object of seven fields costs more
 * than its TL bytes in headers, and a typed array costs structured clone a buffer of its own.
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

/*
 * The packed form: a tag, then the fields separated by SEPARATOR, the TL bytes last (they may hold
 * any byte, so nothing is looked for after them). Ids, hashes, usernames and phone numbers never
 * contain the separator, a control character.
 */
const SEPARATOR = '\u0001';
const PEER_TAG = 'P';
const MISSING_TAG = 'M';
const TYPE_CODES: Record<PeerType, string> = { user: 'u', channel: 'c', chat: 'g' };
const TYPES_BY_CODE: Record<string, PeerType> = { u: 'user', c: 'channel', g: 'chat' };

/** A record as the cache stores it: one string holding every field and the TL bytes. */
export function packRecord(record: EntityRecord): string {
  return [PEER_TAG + TYPE_CODES[record.type], record.id, record.accessHash ?? '', record.usernames.join(' '), record.phone ?? '', String(record.updated), record.tl].join(SEPARATOR);
}

export function packMissingUsername(record: MissingUsernameRecord): string {
  return [MISSING_TAG, record.missing, String(record.updated)].join(SEPARATOR);
}

/** Whether a cache value is a packed missing-username record, without unpacking it. */
export function isMissingUsernameValue(value: unknown): boolean {
  return typeof value === 'string' && value.startsWith(MISSING_TAG + SEPARATOR);
}

/** The fields of a packed value, up to `count`, the last one running to the end. */
function fields(packed: string, count: number): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 1; i < count; i++) {
    const end = packed.indexOf(SEPARATOR, start);
    if (end < 0) return out;
    out.push(packed.slice(start, end));
    start = end + 1;
  }
  out.push(packed.slice(start));
  return out;
}

/** What a `u:` or `p:` entry holds, unpacked; undefined for a value the Telegram client did not write. */
export function unpackCacheValue(value: unknown): EntityRecord | MissingUsernameRecord | undefined {
  if (typeof value !== 'string') return undefined;
  if (value.startsWith(PEER_TAG)) {
    const [tag, id, accessHash, usernames, phone, updated, tl] = fields(value, 7);
    const type = TYPES_BY_CODE[tag?.slice(1) ?? ''];
    if (type === undefined || id === undefined || tl === undefined) return undefined;
    return { id, type, ...(accessHash && { accessHash }), usernames: usernames ? usernames.split(' ') : [], ...(phone && { phone }), updated: Number(updated), tl };
  }
  if (value.startsWith(MISSING_TAG)) {
    const [, missing, updated] = fields(value, 3);
    if (missing !== 'USERNAME_NOT_OCCUPIED' && missing !== 'USERNAME_INVALID') return undefined;
    return { missing, updated: Number(updated) };
  }
  return undefined;
}

export function isMissingUsernameRecord(value: EntityRecord | MissingUsernameRecord): value is MissingUsernameRecord {
  return 'missing' in value;
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
