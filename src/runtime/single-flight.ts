import type { LookupResult } from '../channel/protocol.js';

interface Lease {
  owner: string;
  waiters: (() => void)[];
  timer: NodeJS.Timeout;
}

/**
 * Coalesces concurrent misses of one account's key, across all workers: the first task to miss
 * holds a lease and fetches, the others wait for it instead of calling Telegram too. A lease
 * whose holder never settles (its task crashed or hung) expires and wakes the waiters, one of
 * which then takes the lead.
 */
export class SingleFlight {
  private readonly leases = new Map<string, Lease>();

  constructor(private readonly leaseTimeoutMs: number) {}

  /**
   * `cache` names the cache the key lives in (one account's entries in one cache); `read` looks the
   * key up there; `owner` names the task asking, so its leases can be
   * released when it ends. `signal` is the owner's life: once it fires (the task ended, crashed or
   * was cancelled) a waiting lookup stops, and never takes a lease nobody would release.
   */
  async lookup(cache: string, key: string, owner: string, read: () => unknown, signal?: AbortSignal): Promise<LookupResult> {
    const id = `${cache}\u0000${key}`;
    for (;;) {
      signal?.throwIfAborted();
      const value = read();
      if (value !== undefined) return { hit: true, value };
      const lease = this.leases.get(id);
      if (lease === undefined) {
        this.leases.set(id, {
          owner,
          waiters: [],
          timer: setTimeout(() => this.release(id), this.leaseTimeoutMs).unref(),
        });
        return { hit: false, leader: true };
      }
      await new Promise<void>((wake) => {
        const stop = (): void => wake();
        signal?.addEventListener('abort', stop, { once: true });
        lease.waiters.push(() => {
          signal?.removeEventListener('abort', stop);
          wake();
        });
      });
    }
  }

  /** Ends the lead on a key; the waiters read the cache again. */
  settle(cache: string, key: string, owner: string): void {
    const id = `${cache}\u0000${key}`;
    if (this.leases.get(id)?.owner === owner) this.release(id);
  }

  /** Releases every lease a task still holds, when the task ends however it ended. */
  releaseOwner(owner: string): void {
    for (const [id, lease] of this.leases) if (lease.owner === owner) this.release(id);
  }

  get activeLeases(): number {
    return this.leases.size;
  }

  private release(id: string): void {
    const lease = this.leases.get(id);
    if (lease === undefined) return;
    clearTimeout(lease.timer);
    this.leases.delete(id);
    for (const wake of lease.waiters) wake();
  }
}
