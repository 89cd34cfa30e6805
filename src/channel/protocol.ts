/*
 * What crosses between the main thread and a worker thread for one task. Everything here is plain
 * data or a MessagePort: GramJS `Api` objects do not survive structured clone, so Telegram objects
 * travel as TL bytes (`Uint8Array`).
 */
import type { MessagePort } from 'node:worker_threads';
import type { TelegramCacheScope } from '../cache/telegram-cache.js';
import type { SerializedError } from './remote-error.js';

/** A structured-cloneable cache value. */
export type CacheValue = unknown;

export interface CacheWrite {
  key: string;
  value: CacheValue;
  /** Overrides the cache's default time to live, in milliseconds. */
  ttlMs?: number;
  /** A value nobody asked for yet (seen in passing): stored only into free room, as least recently used. */
  cold?: boolean;
  /** Another key of the account whose value this key stands for (a username for its peer); `value` is then ignored. */
  aliasOf?: string;
}

/**
 * The answer to a single-flight lookup: the value, the duty to fetch it, or the failure of the
 * leader this lookup waited for (shared with its waiters like a short-lived negative entry, so a
 * failing key costs one Telegram call, not one per waiting task).
 */
export type LookupResult = { hit: true; value: CacheValue } | { hit: false; leader: true } | { hit: false; leader: false; error: SerializedError };

/**
 * The cache view a task sees, bound on the main thread to the task's account. No method takes an
 * account: a worker cannot name another account, so it cannot reach another account's entries
 * whatever keys it tries.
 */
export interface AccountCacheApi {
  /** A promise when a miss in memory is looked up in the durable store. */
  get(key: string): CacheValue | undefined | Promise<CacheValue | undefined>;
  /** One round trip for many keys; the answer is aligned with `keys`, `undefined` for a miss. */
  getMany(keys: string[]): (CacheValue | undefined)[] | Promise<(CacheValue | undefined)[]>;
  set(key: string, value: CacheValue, ttlMs?: number): void;
  setMany(entries: CacheWrite[]): void;
  /** Drops entries Telegram said are no longer valid; returns how many existed. */
  invalidate(keys: string[]): number;
  /**
   * Single flight: a hit returns the value; on a miss the first caller becomes the leader and must
   * `settle` the key, while callers that arrive meanwhile (from any worker) wait for it. With
   * `withResolvePermit`, a leader's answer also carries its resolve permit (see
   * `acquireResolvePermit`): a username miss then costs two round trips, this and `settle`.
   */
  lookup(key: string, withResolvePermit?: boolean): LookupResult | Promise<LookupResult>;
  /**
   * Ends a lead: stores the fetched entries (or none) and wakes the waiters. `failure` is the
   * leader's error when it got nothing; the waiters then fail with it instead of each leading.
   */
  settle(key: string, entries: CacheWrite[], failure?: SerializedError): void;
  /** Tells the main thread that Telegram asked this account to wait, so it stops dispatching its tasks. */
  reportFloodWait(seconds: number, method: string): void;
  /** Resolves when the account may make another username resolve under the runtime's own limit. */
  acquireResolvePermit(): Promise<void> | void;
  /** A connection to the simulated Telegram, authenticated as this account (simulated mode only). */
  openTelegramConnection(): MessagePort;
}

/** The methods a worker may call; anything else on the channel is refused. */
export const ACCOUNT_CACHE_METHODS = [
  'get',
  'getMany',
  'set',
  'setMany',
  'invalidate',
  'lookup',
  'settle',
  'reportFloodWait',
  'acquireResolvePermit',
  'openTelegramConnection',
] as const satisfies readonly (keyof AccountCacheApi)[];

/**
 * The calls made per lookup (a read, a miss's lead and settle, its resolve permit, a write, an
 * invalidation). They travel on the worker's link (src/channel/wire.ts) instead of through
 * comlink, whose per-call work (string ids, proxies, wire wrapping) triples the cost of a read;
 * bench/RESULTS.md has the figures. Calls made per connection or per flood event stay on comlink,
 * which also transfers the connection port, on a channel a task opens only when it needs one.
 */
export const HOT_METHODS = ['get', 'getMany', 'set', 'setMany', 'invalidate', 'lookup', 'settle', 'acquireResolvePermit'] as const satisfies readonly (keyof AccountCacheApi)[];
export type HotMethod = (typeof HOT_METHODS)[number];

/** Credentials a live client needs; simulated accounts carry only the phone. */
export interface AccountCredentials {
  phone: string;
  apiId?: number;
  apiHash?: string;
  session?: string;
}

/**
 * A fleet host's lease on its accounts, as its workers read it (src/telegram/connection-lease.ts):
 * structured-cloneable, the board shared rather than copied.
 */
export interface ConnectionLease {
  /** Per shard, a BigInt64: wall ms until which the host may use the shard's accounts, 0 while it may not. */
  board: SharedArrayBuffer;
  shards: number;
  /** The ping_delay_disconnect delay, whole seconds as Telegram counts it. */
  pingDelaySeconds: number;
}

/** How the worker's Telegram clients are made and how entity lookups use the cache. */
export interface TelegramSettings {
  mode: 'simulated' | 'live' | 'loopback';
  /** Where live clients connect instead of the session's data centre (loopback mode sets it). */
  dcAddress?: { host: string; port: number };
  /** Longest wait for a live connection or one call's answer, in ms. */
  callTimeoutMs: number;
  /** false gives tasks the bare GramJS client, for measuring what the cache saves. */
  entityCache: boolean;
  usernameTtlMs: number;
  negativeTtlMs: number;
  entityTtlMs: number;
  /** A client no task used for this long is disconnected; 0 never. */
  clientIdleTimeoutMs: number;
  /** Connected clients a worker holds at most. */
  maxClients: number;
  /** A fleet host's lease on its accounts, which live clients keep their connections within. */
  lease?: ConnectionLease;
}

/** One task, as handed to a worker. */
export interface TaskPayload {
  taskId: string;
  account: AccountCredentials;
  /** A file: URL of the task module. */
  taskModule: string;
  args: unknown;
  cacheScope: TelegramCacheScope;
  /**
   * The task's binding on its worker's link: the main end maps it to this task's account endpoint
   * while the task runs, and refuses it before and after, and from any other worker.
   */
  binding: number;
  telegram: TelegramSettings;
  logLevel: string;
}

/**
 * What a task ended with, sent after the task's last call was answered: in Piscina's reply when it
 * is plain data (see travelsWhole), else on the worker's link.
 */
export type TaskOutcome = { ok: true; value: unknown } | { ok: false; error: SerializedError };

/** What a worker does besides tasks: the runtime's readiness probe. */
export interface PingPayload {
  ping: true;
}

/**
 * Sent to each worker at shutdown, so its Telegram clients disconnect cleanly before the thread is
 * stopped; with `accounts`, only those accounts' clients (a fleet host handing them to another host).
 */
export interface DisconnectPayload {
  disconnect: true;
  accounts?: string[];
}

export type WorkerPayload = TaskPayload | PingPayload | DisconnectPayload;
/** A task's outcome, or `ended` when the outcome was sent on the link instead (one structured clone, no trial copy). */
export type WorkerReply = TaskOutcome | 'ended' | 'pong' | 'disconnected';
