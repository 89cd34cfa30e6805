/*
 * The durable tier's one interface. Every call that reads names the account, and a driver answers
 * it from that account's rows alone (the account is part of the key in every table and key
 * space), so no call can hand back another account's access hashes whatever keys it is asked for.
 * Times are wall-clock milliseconds since the epoch: a store outlives the process whose clock
 * wrote it.
 */

/** One stored entry of one account: its encoded value (see entry-codec.ts) and its times. */
export interface StoredEntry {
  key: string;
  data: Uint8Array;
  /** When the entry stops being valid; null for never. */
  expiresAt: number | null;
  /** When a task last wrote or read it: what the warm start and the size bound go by. */
  usedAt: number;
}

/** An entry on its way into the store. */
export interface StoreWrite extends StoredEntry {
  account: string;
}

/** That keys of one account were read at `usedAt`: only their recency changes. */
export interface StoreTouch {
  account: string;
  keys: readonly string[];
  usedAt: number;
}

export interface StoreBounds {
  /** Entries unused for longer than this go, in ms. */
  maxAgeMs: number;
  /** Beyond this many entries, the least recently used go. */
  maxEntries: number;
}

export type StoreDriver = 'sqlite' | 'postgres' | 'redis';

export interface CacheStore {
  readonly driver: StoreDriver;
  /**
   * Requests sent to the server (statements run, for SQLite) since the store was opened. The
   * contract suite reads it to check that a batch of keys costs one request.
   */
  readonly requests: number;
  /** The live entries of `account` among `keys`, in one request; absent keys are left out. */
  getMany(account: string, keys: readonly string[], now: number): Promise<StoredEntry[]>;
  /** The account's live entries, most recently used first, at most `limit`. */
  recent(account: string, limit: number, now: number): Promise<StoredEntry[]>;
  /** Accounts that hold live entries. */
  accounts(now: number): Promise<string[]>;
  /** Stores the entries (the newest write of a key wins) and the touches, in one request where the server allows. */
  write(entries: readonly StoreWrite[], touches?: readonly StoreTouch[]): Promise<void>;
  delete(account: string, keys: readonly string[]): Promise<void>;
  deleteAccount(account: string): Promise<void>;
  /** Drops what expired, what is older than the age bound and the least recently used beyond the size bound; returns how many went. */
  prune(now: number, bounds: StoreBounds): Promise<number>;
  close(): Promise<void>;
}
