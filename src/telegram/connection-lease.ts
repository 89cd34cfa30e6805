/*
 * The lease a fleet host (src/fleet/) holds on its accounts, as its worker threads see it. Clients that dial
 * Telegram from a worker (live, or the loopback data centre) cannot ask the main thread before
 * every write, so the main thread publishes, per shard, the wall-clock moment until which the
 * host may use the shard's accounts, in memory every worker reads without a message.
 *
 * Each of those clients also sends ping_delay_disconnect, which Telegram honours: the server closes
 * the connection when no new ping arrives within the delay. A connection carries bytes only while
 * its lease reaches at least that delay ahead, so the last ping a host ever writes for an account
 * makes the server close the connection by the end of the lease, even if the host then freezes
 * and never runs again. docs/FLEET.md relates the timings.
 */
import type { ConnectionLease } from '../channel/protocol.js';

/**
 * FNV-1a, 32 bits: stable across processes and Node versions, unlike any built-in hash. The fleet's
 * shards (src/fleet/shard-map.ts) and the lease board's slots are both this hash of the phone, so a
 * worker finds its account's lease without being told the account's shard.
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Wall-clock ms from the monotonic clock: comparable across the threads (and processes) of one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The ping delay of a host with these timings, in whole seconds: at most two thirds of
 * lock_timeout less one heartbeat_interval. Confirmed every heartbeat, the lease reaches
 * lock_timeout − heartbeat_interval − a confirmation's latency ahead, so a confirmation may come
 * a third of lock_timeout late before the connections (which need the delay ahead) must go.
 * 0 when not even one second fits.
 */
export function pingDelaySeconds(lockTimeoutMs: number, heartbeatIntervalMs: number): number {
  return Math.floor(((2 * lockTimeoutMs) / 3 - heartbeatIntervalMs) / 1000);
}

/** The main thread's side: where the host publishes its lease on each shard. */
export class LeaseBoard {
  readonly lease: ConnectionLease;
  private readonly until: BigInt64Array;

  constructor(shards: number, pingDelay: number) {
    const board = new SharedArrayBuffer(shards * BigInt64Array.BYTES_PER_ELEMENT);
    this.until = new BigInt64Array(board);
    this.lease = { board, shards, pingDelaySeconds: pingDelay };
  }

  /** The host may use the shard's accounts until this wall ms; 0 (or any past moment): it may not. */
  publish(shard: number, untilWallMs: number): void {
    Atomics.store(this.until, shard, BigInt(Math.max(0, Math.floor(untilWallMs))));
  }
}

/** A worker's side: whether one account's connection may carry bytes now. */
export class AccountLease {
  private readonly until: BigInt64Array;
  private readonly slot: number;
  readonly pingDelayMs: number;

  constructor(
    lease: ConnectionLease,
    readonly account: string,
  ) {
    this.until = new BigInt64Array(lease.board);
    this.slot = fnv1a(account) % lease.shards;
    this.pingDelayMs = lease.pingDelaySeconds * 1000;
  }

  /** True while the lease reaches a whole ping delay ahead: what the connection writes now cannot outlive the lease at the server. */
  mayCarry(now = wallNow()): boolean {
    return now + this.pingDelayMs <= Number(Atomics.load(this.until, this.slot));
  }
}
