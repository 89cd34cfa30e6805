import type { MessagePort } from 'node:worker_threads';
import { transfer } from 'comlink';
import { readThrough } from '../cache/store/durable-cache.js';
import type { TelegramCache } from '../cache/telegram-cache.js';
import type { AccountCacheApi, CacheValue, CacheWrite, LookupResult } from '../channel/protocol.js';
import type { SerializedError } from '../channel/remote-error.js';
import type { FloodControl } from './flood-control.js';
import type { FlightOwnerLife, SingleFlight } from './single-flight.js';
import { TaskCache } from './task-cache.js';

/** What one task did with the cache; the counters of the task's own `cache:stats` event. */
export interface TaskCacheCounters {
  hits: number;
  misses: number;
  sets: number;
  invalidations: number;
  wasInvalidated: boolean;
  /** The task's client told the runtime about a FLOOD_WAIT, so the task's failure need not be counted again. */
  floodReported: boolean;
}

export interface AccountEndpointServices {
  singleFlight: SingleFlight;
  flood: FloodControl;
  /** Opens a simulated-Telegram connection for the account; absent in live mode. */
  openTelegramConnection?: (account: string) => MessagePort;
}

/**
 * The main-thread side of a task's channel. The account is fixed when the endpoint is made, and
 * every method reads and writes that account's entries only: isolation comes from construction,
 * not from the worker choosing keys well.
 */
export class AccountEndpoint implements AccountCacheApi, FlightOwnerLife {
  readonly counters: TaskCacheCounters = { hits: 0, misses: 0, sets: 0, invalidations: 0, wasInvalidated: false, floodReported: false };
  /**
   * Whose misses coalesce: in process scope every task of the account reads one cache, so their
   * misses of a key share one fetch; in task scope each task has its own cache, and a fetch by
   * another task would land where this one never reads.
   */
  private readonly flight: string;
  /**
   * The task's life on this thread: aborted when it ends or is cancelled, so nothing waits on its
   * behalf after. Made only when something waits: most tasks never do, and an abort costs.
   */
  private life: AbortController | null = null;
  /** Why the task stopped (it ended or was cancelled); null while it runs. */
  private stopped: string | null = null;

  /** The cache once the task first used it; a TaskCache makes it only then. */
  private made: TelegramCache | null;

  constructor(
    private readonly source: TelegramCache | TaskCache,
    readonly account: string,
    private readonly taskId: string,
    private readonly services: AccountEndpointServices,
  ) {
    this.made = source instanceof TaskCache ? null : source;
    this.flight = source.scope === 'process' ? account : `${account}\u0000${taskId}`;
  }

  private get cache(): TelegramCache {
    this.made ??= (this.source as TaskCache).cache;
    return this.made;
  }

  get(key: string): CacheValue | undefined | Promise<CacheValue | undefined> {
    const stored = readThrough(this.cache, this.account, [key]);
    return stored === undefined ? this.read(key) : stored.then(() => this.read(key));
  }

  getMany(keys: string[]): (CacheValue | undefined)[] | Promise<(CacheValue | undefined)[]> {
    const stored = readThrough(this.cache, this.account, keys);
    return stored === undefined ? keys.map((key) => this.read(key)) : stored.then(() => keys.map((key) => this.read(key)));
  }

  set(key: string, value: CacheValue, ttlMs?: number): void {
    this.write({ key, value, ...(ttlMs !== undefined && { ttlMs }) });
  }

  setMany(entries: CacheWrite[]): void {
    for (const entry of entries) this.write(entry);
  }

  invalidate(keys: string[]): number {
    let existed = 0;
    for (const key of keys) if (this.cache.delete(this.account, key)) existed++;
    this.counters.invalidations += existed;
    if (existed > 0) this.counters.wasInvalidated = true;
    return existed;
  }

  /**
   * A hit or a new lead is answered at once; a wait behind another task's lead with a promise.
   * With `withResolvePermit`, a lead is answered once its resolve permit is granted too, so the
   * leader's miss costs one round trip fewer; a permit that never comes ends the lead.
   */
  lookup(key: string, withResolvePermit = false): LookupResult | Promise<LookupResult> {
    const stored = readThrough(this.cache, this.account, [key]);
    return stored === undefined ? this.lookupInMemory(key, withResolvePermit) : stored.then(() => this.lookupInMemory(key, withResolvePermit));
  }

  private lookupInMemory(key: string, withResolvePermit: boolean): LookupResult | Promise<LookupResult> {
    if (this.stopped !== null) return Promise.reject(this.stopReason());
    const result = this.services.singleFlight.lookup(this.flight, key, this.taskId, () => this.cache.lookupUncounted(this.account, key), this);
    if (result instanceof Promise) return result.then((settled) => this.counted(settled));
    this.counted(result);
    if (result.hit || !withResolvePermit) return result;
    const permit = this.acquireResolvePermit();
    if (permit === undefined) return result;
    return permit.then(
      () => result,
      (error: unknown) => {
        this.services.singleFlight.settle(this.flight, key, this.taskId);
        throw error;
      },
    );
  }

  settle(key: string, entries: CacheWrite[], failure?: SerializedError): void {
    this.setMany(entries);
    this.services.singleFlight.settle(this.flight, key, this.taskId, entries.length === 0 ? failure : undefined);
  }

  reportFloodWait(seconds: number, method: string): void {
    this.counters.floodReported = true;
    this.services.flood.coolDown(this.account, seconds, method);
  }

  acquireResolvePermit(): Promise<void> | undefined {
    if (this.stopped !== null) return Promise.reject(this.stopReason());
    if (this.services.flood.tryResolvePermit(this.account)) return undefined;
    return this.services.flood.acquireResolvePermit(this.account, this.signal());
  }

  openTelegramConnection(): MessagePort {
    const open = this.services.openTelegramConnection;
    if (open === undefined) throw new Error('this runtime talks to live Telegram: there is no simulated connection to open');
    const port = open(this.account);
    return transfer(port, [port]);
  }

  /** Stops what is waiting on the task's behalf (a lease, a resolve permit): it was cancelled. */
  cancel(reason: string): void {
    if (this.stopped !== null) return;
    this.stopped = reason;
    this.life?.abort(this.stopReason());
  }

  /** Releases what the task still holds on the main thread, whatever way it ended. */
  release(): void {
    this.cancel('the task has ended');
    this.services.singleFlight.releaseOwner(this.taskId);
  }

  /** @internal For single flight: the task still runs, so its lease is kept however long its fetch takes. */
  live(): boolean {
    return this.stopped === null;
  }

  /** @internal For the waits made on the task's behalf. */
  signal(): AbortSignal {
    if (this.life === null) {
      this.life = new AbortController();
      if (this.stopped !== null) this.life.abort(this.stopReason());
    }
    return this.life.signal;
  }

  private stopReason(): DOMException {
    return new DOMException(this.stopped ?? 'the task has ended', 'AbortError');
  }

  /** A waiter that got the leader's value saved a Telegram call: that is a hit for the task. */
  private counted(result: LookupResult): LookupResult {
    // One count in the cache per lookup, however many times the key was read while it waited.
    this.cache.countLookup(this.account, result.hit);
    if (result.hit) this.counters.hits++;
    else this.counters.misses++;
    return result;
  }

  private write(entry: CacheWrite): void {
    const temperature = entry.cold ? 'cold' : 'hot';
    const stored =
      entry.aliasOf === undefined
        ? this.cache.set(this.account, entry.key, entry.value, entry.ttlMs, temperature)
        : this.cache.setAlias(this.account, entry.key, entry.aliasOf, entry.ttlMs, temperature);
    if (stored) this.counters.sets++;
  }

  private read(key: string): CacheValue | undefined {
    const value = this.cache.get(this.account, key);
    if (value === undefined) this.counters.misses++;
    else this.counters.hits++;
    return value;
  }
}
