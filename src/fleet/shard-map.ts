/*
 * Which shard an account belongs to and which host should own a shard. Both are pure functions
 * of names, so every host and every producer computes the same answer without asking anyone.
 */

import { fnv1a } from '../telegram/connection-lease.js';

export { fnv1a };

/** The shard of an account: fixed for the life of a fleet, since `fleet.shards` is. */
export function shardOf(account: string, shards: number): number {
  return fnv1a(account) % shards;
}

/**
 * How much a host wants a shard (rendezvous hashing): each host prefers a different spread of
 * shards, so when one joins or leaves only about its share of shards changes hands.
 */
export function preference(hostId: string, shard: number): number {
  return fnv1a(`${hostId}/${shard}`);
}

/**
 * The number of shards a host should own among the live hosts: an even split, the remainder going
 * to the first hosts in name order. Every host computes it from the same list, so the shares add
 * up to the number of shards.
 */
export function fairShare(liveHostIds: readonly string[], hostId: string, shards: number): number {
  const sorted = [...new Set([...liveHostIds, hostId])].sort();
  const index = sorted.indexOf(hostId);
  const base = Math.floor(shards / sorted.length);
  return base + (index < shards % sorted.length ? 1 : 0);
}

/** Accounts grouped by shard. */
export function accountsByShard(accounts: readonly string[], shards: number): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const account of accounts) {
    const shard = shardOf(account, shards);
    const group = groups.get(shard);
    if (group === undefined) groups.set(shard, [account]);
    else group.push(account);
  }
  return groups;
}
