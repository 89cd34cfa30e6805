import type { LookupResult } from '../channel/protocol.js';
import type { SerializedError } from '../channel/remote-error.js';
import { LinkedQueue } from './linked-queue.js';

/** How a lease's holder is known to be still at work, and how a waiting owner is told to stop. */
export interface FlightOwnerLife {
  /** True while the owner's task runs: its lease is renewed, however slow its Telegram call. */
  live(): boolean;
  /** Fires when the owner's task ends or is cancelled; read only when the owner has to wait. */
  signal(): AbortSignal;
}

interface Lease {
  id: string;
  owner: string;
  life: FlightOwnerLife | undefined;
  /** Woken with the leader's failure, or nothing when the waiters should read the cache again. */
  waiters: LinkedQueue<(failure: SerializedError | undefined) => void>;
  timer: NodeJS.Timeout;
}

const LEAD: LookupResult = Object.freeze({ hit: false, leader: true });

/**
 * Coalesces concurrent misses of one account's key, across all workers: the first task to miss
 * holds a lease and fetches, the others wait for it instead of calling Telegram too. A lease is
 * renewed while its holder's task lives (waiting for its resolve permit or for a slow Telegram is
 * work, not a hang); one whose holder is gone without settling (crashed, hung without a life to
 * check) expires and wakes the waiters, one of which then takes the lead. A leader that fails
 * hands its error to the tasks waiting on it, so a failing key costs one call, not one per waiter.
 */
export class SingleFlight {
  private readonly leases = new Map<string, Lease>();
  /** The leases each task holds, so a task's end releases them without scanning all. */
  private readonly byOwner = new Map<string, Set<Lease>>();

  constructor(private readonly leaseTimeoutMs: number) {}

  /**
   * `cache` names the cache the key lives in (one account's entries in one cache); `read` looks the
   * key up there; `owner` names the task asking, so its leases can be released when it ends.
   * `life`, when given, keeps the owner's lease while it works and stops its wait once its task
   * ended, so it never takes a lease nobody would release. A hit or a new lead is answered at once,
   * a wait with a promise.
   */
  lookup(cache: string, key: string, owner: string, read: () => unknown, life?: FlightOwnerLife): LookupResult | Promise<LookupResult> {
    const value = read();
    if (value !== undefined) return { hit: true, value };
    const id = `${cache}\u0000${key}`;
    const lease = this.leases.get(id);
    if (lease === undefined) {
      this.lead(id, owner, life);
      return LEAD;
    }
    return this.wait(lease, life).then((failure) => (failure === undefined ? this.lookup(cache, key, owner, read, life) : { hit: false, leader: false, error: failure }));
  }

  /** Ends the lead on a key; the waiters read the cache again, or fail with `failure` when the leader got nothing. */
  settle(cache: string, key: string, owner: string, failure?: SerializedError): void {
    const lease = this.leases.get(`${cache}\u0000${key}`);
    if (lease?.owner === owner) this.release(lease, failure);
  }

  /** Releases every lease a task still holds, when the task ends however it ended. */
  releaseOwner(owner: string): void {
    const held = this.byOwner.get(owner);
    if (held === undefined) return;
    for (const lease of held) this.release(lease, undefined);
  }

  get activeLeases(): number {
    return this.leases.size;
  }

  private lead(id: string, owner: string, life: FlightOwnerLife | undefined): void {
    const lease: Lease = { id, owner, life, waiters: new LinkedQueue(), timer: undefined as unknown as NodeJS.Timeout };
    lease.timer = setTimeout(() => this.expire(lease), this.leaseTimeoutMs).unref();
    this.leases.set(id, lease);
    let held = this.byOwner.get(owner);
    if (held === undefined) {
      held = new Set();
      this.byOwner.set(owner, held);
    }
    held.add(lease);
  }

  private expire(lease: Lease): void {
    if (lease.life?.live() === true) lease.timer.refresh();
    else this.release(lease, undefined);
  }

  private wait(lease: Lease, life: FlightOwnerLife | undefined): Promise<SerializedError | undefined> {
    return new Promise((resolve, reject) => {
      const signal = life?.signal();
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const stop = (): void => {
        lease.waiters.remove(node);
        reject(signal?.reason);
      };
      const node = lease.waiters.push((failure) => {
        signal?.removeEventListener('abort', stop);
        resolve(failure);
      });
      signal?.addEventListener('abort', stop, { once: true });
    });
  }

  private release(lease: Lease, failure: SerializedError | undefined): void {
    if (this.leases.get(lease.id) !== lease) return;
    clearTimeout(lease.timer);
    this.leases.delete(lease.id);
    const held = this.byOwner.get(lease.owner);
    held?.delete(lease);
    if (held?.size === 0) this.byOwner.delete(lease.owner);
    for (const wake of lease.waiters.drain()) wake(failure);
  }
}
