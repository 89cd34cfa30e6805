/*
 * A GramJS client whose entity lookups go through the account's cache. GramJS asks Telegram again
 * for `getEntity('@name')` every time and keeps what it learns in an unbounded per-client store;
 * here a peer is resolved once per account and then served from the shared, bounded,
 * account-isolated cache until its time to live runs out or Telegram rejects it.
 */
import { Api, utils, type TelegramClient } from 'telegram';
import type { IterMessagesParams, SendMessageParams } from 'telegram/client/messages.js';
import { _getInputDialog, _getInputNotify, getPeerId } from 'telegram/client/users.js';
import type { Entity, EntityLike } from 'telegram/define.js';
import type { TotalList } from 'telegram/Helpers.js';
import type { AccountCache } from '../channel/channel-client.js';
import type { CacheWrite, TelegramSettings } from '../channel/protocol.js';
import { reviveError, serializeError, type SerializedError } from '../channel/remote-error.js';
import {
  entitiesIn,
  entityOf,
  inputPeerOf,
  isMissingUsernameRecord,
  markedIdOf,
  packMissingUsername,
  packRecord,
  recordOf,
  unpackCacheValue,
  type EntityRecord,
  type MissingUsernameRecord,
} from './entity-record.js';
import { peerKey, queryOf, usernameKey, usernameQuery, type PeerIdQuery, type UsernameQuery } from './peer-keys.js';
import { floodWaitSeconds, invalidatesPeer, missingUsernameError, missingUsernameReason } from './rpc-errors.js';

/**
 * What a task gets as `client`: the part of GramJS's client that tasks use. Both the cached client
 * and a bare GramJS `TelegramClient` satisfy it, so a task runs unchanged on either.
 */
export interface TaskClient {
  getEntity(entity: EntityLike): Promise<Entity>;
  getInputEntity(entity: EntityLike): Promise<Api.TypeInputPeer>;
  getMessages(entity: EntityLike, params?: Partial<IterMessagesParams>): Promise<TotalList<Api.Message>>;
  sendMessage(entity: EntityLike, params?: SendMessageParams): Promise<Api.Message>;
  invoke<R extends Api.AnyRequest>(request: R): Promise<R['__response']>;
  getMe(): Promise<Api.User>;
}

export type EntityTtls = Pick<TelegramSettings, 'entityTtlMs' | 'usernameTtlMs' | 'negativeTtlMs'>;

/** A peer as one call uses it. */
interface PeerUse {
  /** Absent for peers GramJS resolved by itself ('me', phone numbers, invite links). */
  markedId?: string;
  input: Api.TypeInputPeer;
  record?: EntityRecord;
  /** Served from the cache rather than fetched just now, so Telegram may have moved on since. */
  fromCache: boolean;
}

/** A peer that went through a lookup: the object just fetched, or the record that spares the fetch. */
type LookedUp = PeerUse & ({ fetched: Entity; record?: EntityRecord } | { fetched?: undefined; record: EntityRecord });

/** Requests that change nothing on Telegram, so repeating one after a fresh resolve is harmless. */
const READ_ONLY_REQUESTS = new Set(['messages.GetHistory', 'channels.GetMessages', 'channels.GetChannels', 'channels.GetFullChannel', 'users.GetUsers', 'users.GetFullUser']);

/** TTL 0 means no expiry, so it is the longest, not the shortest. */
function shorterTtl(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

type RequestClass<R> = new (args: unknown) => R;

export class CachedTelegramClient implements TaskClient {
  /**
   * What each object this client handed out stood for, so that a task passing it back (a Channel
   * from `getEntity` to `getMessages`, say) is known to rest on a cached entry. Weak, because a
   * standalone client may live as long as a script does. Made on first use: a client is made
   * for every task, and most tasks hand out nothing.
   */
  private handedOutMap: WeakMap<object, PeerUse> | null = null;

  private get handedOut(): WeakMap<object, PeerUse> {
    this.handedOutMap ??= new WeakMap();
    return this.handedOutMap;
  }

  constructor(
    readonly raw: TelegramClient,
    private readonly cache: AccountCache,
    private readonly ttls: EntityTtls,
  ) {}

  /** One cache lookup per call; Telegram is asked only on a miss, by the one task that leads it. */
  async getEntity(entity: EntityLike): Promise<Entity> {
    const query = queryOf(entity);
    if (query.kind === 'passthrough') return this.guard('getEntity', [], () => this.raw.getEntity(entity));
    const use = await this.lookup(query, entity);
    const result = use.fetched !== undefined ? use.fetched : entityOf(use.record);
    this.handedOut.set(result, use);
    return result;
  }

  /** Values that already carry an access hash need no lookup; names and ids take one. */
  async getInputEntity(entity: EntityLike): Promise<Api.TypeInputPeer> {
    const use = await this.usePeer(entity);
    this.handedOut.set(use.input, use);
    return use.input;
  }

  async getMessages(entity: EntityLike, params?: Partial<IterMessagesParams>): Promise<TotalList<Api.Message>> {
    return this.onPeers('getMessages', [await this.usePeer(entity)], true, async ([peer]) => {
      const messages = await this.raw.getMessages(peer.input, params);
      await this.remember(messages.flatMap((message) => [message.sender, message.chat]));
      return messages;
    });
  }

  async sendMessage(entity: EntityLike, params?: SendMessageParams): Promise<Api.Message> {
    return this.onPeers('sendMessage', [await this.usePeer(entity)], false, ([peer]) => this.raw.sendMessage(peer.input, params));
  }

  /** Peers in the request (names, ids, objects) are resolved through the cache before GramJS sees it. */
  async invoke<R extends Api.AnyRequest>(request: R): Promise<R['__response']> {
    const uses: PeerUse[] = [];
    await request.resolve(this.resolver(uses), utils);
    return this.onPeers(request.className, uses, READ_ONLY_REQUESTS.has(request.className), async (peers) => {
      const result: R['__response'] = await this.raw.invoke(peers === uses ? request : await this.rebuilt(request, peers));
      await this.remember(entitiesIn(result));
      return result;
    });
  }

  getMe(): Promise<Api.User> {
    return this.guard('getMe', [], () => this.raw.getMe());
  }

  private async usePeer(entity: EntityLike): Promise<PeerUse> {
    if (typeof entity === 'object') {
      const known = this.handedOutMap?.get(entity);
      if (known !== undefined) return known;
    }
    const query = queryOf(entity);
    if (query.kind === 'passthrough') return { input: await this.guard('getInputEntity', [], () => this.raw.getInputEntity(entity)), fromCache: false };
    if (query.kind === 'peer' && query.input !== undefined) return { markedId: query.markedId, input: query.input, fromCache: false };
    return this.lookup(query, entity);
  }

  /**
   * The single-flight lookup of one key. A miss makes this task the leader, which must settle the
   * key whatever happens, or the account's other tasks would wait for it until the lease expires.
   * A username's lead comes with its resolve permit; a lead that failed fails its waiters too.
   */
  private async lookup(query: UsernameQuery | PeerIdQuery, entity: EntityLike): Promise<LookedUp> {
    const found = await this.cache.lookup(query.key, query.kind === 'username');
    if (found.hit) return this.cached(query, found.value);
    if (!found.leader) throw reviveError(found.error);
    let entries: CacheWrite[] = [];
    let failure: SerializedError | undefined;
    try {
      const { target, seen } = query.kind === 'username' ? await this.resolveUsername(query.username) : await this.fetchPeer(query, entity);
      const now = Date.now();
      const record = recordOf(target, now);
      const passing = seen.map((value) => recordOf(value, now)).filter((value) => value !== undefined);
      entries = [...this.writesFor(record === undefined ? [] : [record]), ...this.coldWritesFor(passing)];
      // The name asked for is stored even if Telegram no longer lists it, so the waiters find it.
      if (record !== undefined && !entries.some((entry) => entry.key === query.key)) entries.push(this.usernameWrite(query.key, record, false));
      return { markedId: utils.getPeerId(target), input: utils.getInputPeer(target), fromCache: false, fetched: target, ...(record && { record }) };
    } catch (error) {
      const missing = missingUsernameReason(error);
      if (missing === undefined || query.kind !== 'username') {
        failure = serializeError(error);
        throw error;
      }
      const negative: MissingUsernameRecord = { missing, updated: Date.now() };
      entries = [{ key: query.key, value: packMissingUsername(negative), ttlMs: this.ttls.negativeTtlMs }];
      throw missingUsernameError(missing, query.username);
    } finally {
      await this.cache.settle(query.key, entries, failure);
    }
  }

  private cached(query: UsernameQuery | PeerIdQuery, value: unknown): LookedUp {
    const record = unpackCacheValue(value);
    if (record !== undefined && isMissingUsernameRecord(record) && query.kind === 'username') throw missingUsernameError(record.missing, query.username);
    if (record === undefined || isMissingUsernameRecord(record)) {
      throw new TypeError(`the cache entry ${query.key} is not a peer record: only the Telegram client should write u: and p: keys`);
    }
    return { markedId: markedIdOf(record), input: inputPeerOf(record), record, fromCache: true };
  }

  /** Resolves a username as GramJS's `getEntity` does, keeping every peer the answer carries; its lookup brought the resolve permit. */
  private async resolveUsername(username: string): Promise<{ target: Entity; seen: Entity[] }> {
    const request = new Api.contacts.ResolveUsername({ username });
    const result = await this.guard(request.className, [], () => this.raw.invoke(request));
    const seen = [...result.users, ...result.chats];
    const wanted = utils.getPeerId(result.peer);
    const target = seen.find((candidate) => utils.getPeerId(candidate) === wanted);
    if (target === undefined) throw new Error(`Cannot find any entity corresponding to "${username}"`);
    return { target, seen: seen.filter((other) => other !== target) };
  }

  private async fetchPeer(query: PeerIdQuery, entity: EntityLike): Promise<{ target: Entity; seen: Entity[] }> {
    return { target: await this.guard('getEntity', [], () => this.raw.getEntity(query.input ?? entity)), seen: [] };
  }

  /**
   * Runs a call on resolved peers. When Telegram rejects a peer that came from the cache, its
   * entries go; a read-only call is then repeated once on a fresh resolve of the peer's username,
   * as long as the name still leads to the same peer. (`[PeerUse]` in the constraint makes a
   * one-peer array literal infer as a tuple, so single-peer callers need no undefined check.)
   */
  private async onPeers<P extends [PeerUse] | PeerUse[], T>(method: string, uses: P, readOnly: boolean, run: (peers: P) => Promise<T>): Promise<T> {
    try {
      return await this.guard(method, uses, () => run(uses));
    } catch (error) {
      const names = uses.map((use) => (use.fromCache ? use.record?.usernames[0] : undefined));
      if (!readOnly || names.every((name) => name === undefined) || !invalidatesPeer(error)) throw error;
      const refreshed = uses.map((use, index) => {
        const name = names[index];
        return name === undefined ? use : this.lookup(usernameQuery(name), name);
      });
      const fresh = (await Promise.all(refreshed)) as P;
      if (fresh.some((use, index) => use.markedId !== uses[index]?.markedId)) throw error;
      return this.guard(method, fresh, () => run(fresh));
    }
  }

  /** Telegram's verdicts reach the runtime: a flood wait cools the account down, a rejected peer leaves the cache. */
  private async guard<T>(method: string, uses: readonly PeerUse[], call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const seconds = floodWaitSeconds(error);
      if (seconds !== undefined) await this.cache.reportFloodWait(seconds, method);
      else if (invalidatesPeer(error)) {
        // Only peers this client resolved: a hash the caller brought along says nothing about the cached one.
        const keys = uses.flatMap((use) => (use.markedId === undefined || use.record === undefined ? [] : [peerKey(use.markedId), ...use.record.usernames.map(usernameKey)]));
        if (keys.length > 0) await this.cache.invalidate(keys);
      }
      throw error;
    }
  }

  /** Peers seen in passing are stored too, without a lookup: a later `getEntity` of them is a hit. */
  private async remember(entities: readonly unknown[]): Promise<void> {
    const now = Date.now();
    // A channel's posts all name the channel, often as the same object: each peer is encoded once.
    const records = new Map<string, EntityRecord>();
    for (const entity of new Set(entities)) {
      const record = recordOf(entity, now);
      if (record !== undefined) records.set(markedIdOf(record), record);
    }
    if (records.size > 0) await this.cache.setMany(this.coldWritesFor([...records.values()]));
  }

  /**
   * A peer under its id, and each username as a pointer to that entry, for no longer than the peer
   * itself is trusted: the record is held once however many names lead to it.
   */
  private writesFor(records: readonly EntityRecord[], cold = false): CacheWrite[] {
    return records.flatMap((record) => [
      { key: peerKey(markedIdOf(record)), value: packRecord(record), ttlMs: this.ttls.entityTtlMs, ...(cold && { cold }) },
      ...record.usernames.map((username) => this.usernameWrite(usernameKey(username), record, cold)),
    ]);
  }

  /** Peers nobody looked up: kept while there is room, never at the expense of ones that were. */
  private coldWritesFor(records: readonly EntityRecord[]): CacheWrite[] {
    return this.writesFor(records, true);
  }

  private usernameWrite(key: string, record: EntityRecord, cold: boolean): CacheWrite {
    return { key, value: null, aliasOf: peerKey(markedIdOf(record)), ttlMs: shorterTtl(this.ttls.usernameTtlMs, this.ttls.entityTtlMs), ...(cold && { cold }) };
  }

  /**
   * What GramJS's `request.resolve` calls to turn a request's peers into input peers: the same
   * helpers as the client's, but resolving through the cache. `replace` swaps in fresh input
   * peers when a read-only request is repeated.
   */
  private resolver(uses: PeerUse[], replace?: ReadonlyMap<string, Api.TypeInputPeer>): TelegramClient {
    const resolver = {
      getInputEntity: async (peer: EntityLike) => {
        const use = await this.usePeer(peer);
        uses.push(use);
        return (use.markedId !== undefined && replace?.get(use.markedId)) || use.input;
      },
      getPeerId: (peer: EntityLike, addMark?: boolean) => getPeerId(resolver as unknown as TelegramClient, peer, addMark),
      getMe: (inputPeer?: boolean) => (inputPeer ? this.raw.getMe(true) : this.raw.getMe()),
      _getInputDialog: (dialog: unknown) => _getInputDialog(resolver as unknown as TelegramClient, dialog),
      _getInputNotify: (notify: unknown) => _getInputNotify(resolver as unknown as TelegramClient, notify),
    };
    return resolver as unknown as TelegramClient;
  }

  /** The request again, from the caller's own arguments, with the refreshed peers in place of the stale ones. */
  private async rebuilt<R extends Api.AnyRequest>(request: R, peers: readonly PeerUse[]): Promise<R> {
    const copy = new (request.constructor as RequestClass<R>)(request.originalArgs);
    const replace = new Map(peers.flatMap((peer) => (peer.markedId === undefined ? [] : [[peer.markedId, peer.input] as const])));
    await copy.resolve(this.resolver([], replace), utils);
    return copy;
  }
}
